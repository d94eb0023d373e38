#include "relay/queue/claims.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "core/pg/pool.hpp"
#include "relay/smtp/address.hpp"

namespace smarthost::queue {

namespace asio = boost::asio;

namespace {

// Expired leases first (their recipients have waited longest), then due recipients,
// each locked with SKIP LOCKED so concurrent claimers take disjoint sets. Of those, the
// first $4 domains by earliest due time, at most $3 recipients, are leased; the rest are
// unlocked again when the statement commits. The body travels once per message.
constexpr const char* k_claim = R"sql(
WITH reclaim AS (
    SELECT id, domain, next_attempt_at AS due_at FROM recipients
    WHERE state = 'in_flight' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id, domain, next_attempt_at AS due_at FROM recipients
    WHERE state IN ('queued', 'deferred') AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), candidate AS (
    SELECT id, domain, due_at, min(due_at) OVER (PARTITION BY domain) AS domain_due
    FROM (SELECT * FROM reclaim UNION ALL SELECT * FROM due) AS found
), ranked AS (
    SELECT id,
           dense_rank() OVER (ORDER BY domain_due, domain) AS domain_rank,
           row_number() OVER (ORDER BY domain_due, domain, due_at, id) AS position
    FROM candidate
), claimed AS (
    UPDATE recipients r
    SET state = 'in_flight', lease_owner = $1,
        lease_expires_at = now() + $2::bigint * interval '1 millisecond',
        attempts = r.attempts + 1, updated_at = now()
    FROM ranked
    WHERE r.id = ranked.id AND ranked.domain_rank <= $4 AND ranked.position <= $3
    RETURNING r.id, r.message_id, r.address, r.domain, r.dsn_notify, r.dsn_orcpt, r.attempts
)
SELECT c.domain, replace(m.id::text, '-', ''), m.account_id, m.envelope_sender,
       CASE WHEN row_number() OVER (PARTITION BY m.id ORDER BY c.domain, c.id) = 1
            THEN m.body END,
       m.body IS NULL, m.body_8bitmime, m.smtputf8, m.dsn_ret, m.dsn_envid,
       m.header_message_id, (extract(epoch FROM m.received_at) * 1000000)::bigint,
       c.id, c.address, c.dsn_notify, c.dsn_orcpt, c.attempts, a.name
FROM claimed c JOIN messages m ON m.id = c.message_id JOIN accounts a ON a.id = m.account_id
ORDER BY c.domain, m.id, c.id)sql";

// Every statement that updates several leased rows locks them in id order first: two
// transactions of one owner (a lease extension and a worker recording its outcomes)
// taking the same rows in different orders deadlock, and PostgreSQL then aborts one.
constexpr const char* k_lock_recipients = R"sql(
SELECT id FROM recipients WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE)sql";

constexpr const char* k_extend_lease = R"sql(
WITH locked AS MATERIALIZED (
    SELECT id FROM recipients
    WHERE id = ANY($2::bigint[]) AND lease_owner = $1 AND state = 'in_flight'
    ORDER BY id FOR UPDATE
)
UPDATE recipients r
SET lease_expires_at = now() + $3::bigint * interval '1 millisecond', updated_at = now()
FROM locked WHERE r.id = locked.id)sql";

// One outcome: the recipient row if still ours, then its events and, for a hard bounce,
// the suppression — all only if the row was updated. $10 is the recipient's canonical
// address (smtp::canonical_address), the form every suppression lookup uses. Returns 1 or
// 0 rows updated.
constexpr const char* k_record = R"sql(
WITH updated AS (
    UPDATE recipients
    SET state = $3, last_reply = nullif($4, ''),
        next_attempt_at = coalesce('epoch'::timestamptz + $5::bigint * interval '1 microsecond',
                                   next_attempt_at),
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = $1 AND lease_owner = $2 AND state = 'in_flight'
    RETURNING id, message_id, address
), event AS (
    INSERT INTO events (message_id, recipient_id, kind, remote_host, remote_ip, tls_version,
                        reply)
    SELECT u.message_id, u.id, k.kind, nullif($6, ''), nullif($7, '')::inet, nullif($8, ''),
           nullif($4, '')
    FROM updated u CROSS JOIN (VALUES (1, 'attempt'), (2, $3)) AS k (position, kind)
    ORDER BY k.position
), suppression AS (
    INSERT INTO suppressions (account_id, address, reason, last_reply)
    SELECT m.account_id, lower($10), 'hard_bounce', nullif($4, '')
    FROM updated u JOIN messages m ON m.id = u.message_id
    WHERE $9::boolean
    ON CONFLICT (account_id, address) DO NOTHING
)
SELECT count(*) FROM updated)sql";

// A released recipient was claimed with attempts + 1: take that back.
constexpr const char* k_release_all = R"sql(
WITH locked AS MATERIALIZED (
    SELECT id FROM recipients WHERE lease_owner = $1 AND state = 'in_flight'
    ORDER BY id FOR UPDATE
)
UPDATE recipients r
SET state = CASE WHEN r.attempts <= 1 THEN 'queued' ELSE 'deferred' END,
    attempts = greatest(r.attempts - 1, 0),
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
FROM locked WHERE r.id = locked.id)sql";

constexpr const char* k_release_some = R"sql(
WITH locked AS MATERIALIZED (
    SELECT id FROM recipients
    WHERE lease_owner = $1 AND state = 'in_flight' AND id = ANY($2::bigint[])
    ORDER BY id FOR UPDATE
)
UPDATE recipients r
SET state = CASE WHEN r.attempts <= 1 THEN 'queued' ELSE 'deferred' END,
    attempts = greatest(r.attempts - 1, 0),
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
FROM locked WHERE r.id = locked.id)sql";

// Deadlock and serialization failures: PostgreSQL rolled the transaction back.
bool is_transient(const Error& error) {
    return error.code == "40P01" || error.code == "40001";
}
constexpr int k_record_retries = 3;

std::string id_array(const std::vector<std::int64_t>& ids) {
    std::string literal = "{";
    for (std::int64_t id : ids) {
        if (literal.size() > 1) literal += ',';
        literal += std::to_string(id);
    }
    literal += '}';
    return literal;
}

// Hex digit -> value, -1 for anything else. A table: decoding claimed bodies with three
// branches per digit into a growing string was a tenth of the delivery role's CPU time
// at 32 KiB.
constexpr std::array<std::int8_t, 256> k_hex_values = [] {
    std::array<std::int8_t, 256> values{};
    values.fill(-1);
    for (int i = 0; i < 10; ++i)
        values['0' + i] = static_cast<std::int8_t>(i);
    for (int i = 0; i < 6; ++i) {
        values['a' + i] = static_cast<std::int8_t>(10 + i);
        values['A' + i] = static_cast<std::int8_t>(10 + i);
    }
    return values;
}();

// bytea in text format is "\x" followed by hex digits (bytea_output = hex, the default).
std::string decode_bytea(std::string_view text) {
    if (!text.starts_with("\\x")) throw std::runtime_error("bytea not in hex format");
    text.remove_prefix(2);
    std::string bytes(text.size() / 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const int high = k_hex_values[static_cast<unsigned char>(text[2 * i])];
        const int low = k_hex_values[static_cast<unsigned char>(text[2 * i + 1])];
        if (high < 0 || low < 0) throw std::runtime_error("bad hex digit in bytea");
        bytes[i] = static_cast<char>(high * 16 + low);
    }
    return bytes;
}

smtp::DsnReturn dsn_return(std::string_view ret) {
    if (ret == "FULL") return smtp::DsnReturn::full;
    if (ret == "HDRS") return smtp::DsnReturn::headers;
    return smtp::DsnReturn::unspecified;
}

std::string text_or_empty(const pg::Rows& rows, std::size_t row, std::size_t column) {
    return rows.is_null(row, column) ? std::string() : std::string(rows.get(row, column));
}

std::int64_t micros_since_epoch(TimePoint when) {
    return std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
}

// Rows are ordered by domain, message, recipient: consecutive rows fill the same group.
Claim group_claim(const pg::Rows& rows) {
    enum Column {
        domain,
        message_id,
        account_id,
        sender,
        body,
        body_purged,
        body_8bitmime,
        smtputf8,
        ret,
        envid,
        header_message_id,
        received_micros,
        recipient_id,
        address,
        notify,
        orcpt,
        attempts,
        account_name,
    };
    Claim claim;
    std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> bodies;
    for (std::size_t row = 0; row < rows.size(); ++row) {
        const std::string_view row_domain = rows.get(row, domain);
        if (claim.domains.empty() || claim.domains.back().domain != row_domain)
            claim.domains.push_back(DomainBatch{std::string(row_domain), {}});
        auto& messages = claim.domains.back().messages;
        const std::string_view row_message = rows.get(row, message_id);
        if (messages.empty() || messages.back().id != row_message) {
            ClaimedMessage message;
            message.id = std::string(row_message);
            message.account_id = rows.get_int(row, account_id);
            message.account_name = std::string(rows.get(row, account_name));
            message.sender = std::string(rows.get(row, sender));
            if (!rows.is_null(row, body)) {
                message.body =
                    std::make_shared<const std::string>(decode_bytea(rows.get(row, body)));
                bodies.emplace_back(message.id, message.body);
            }
            message.body_8bitmime = rows.get_bool(row, body_8bitmime);
            message.smtputf8 = rows.get_bool(row, smtputf8);
            message.ret = dsn_return(text_or_empty(rows, row, ret));
            message.envid = text_or_empty(rows, row, envid);
            message.header_message_id = text_or_empty(rows, row, header_message_id);
            message.received_at =
                TimePoint(std::chrono::microseconds(rows.get_int(row, received_micros)));
            messages.push_back(std::move(message));
        }
        messages.back().recipients.push_back(ClaimedRecipient{
            rows.get_int(row, recipient_id),
            std::string(rows.get(row, address)),
            text_or_empty(rows, row, notify),
            text_or_empty(rows, row, orcpt),
            static_cast<int>(rows.get_int(row, attempts)),
        });
        ++claim.recipients;
    }
    // The body came with the message's first row only; share it with its other groups.
    for (auto& group : claim.domains) {
        for (auto& message : group.messages) {
            if (message.body) continue;
            for (const auto& [id, body] : bodies) {
                if (id == message.id) message.body = body;
            }
        }
    }
    return claim;
}

const char* state_name(RecordedState state) {
    switch (state) {
        case RecordedState::delivered:
            return "delivered";
        case RecordedState::deferred:
            return "deferred";
        case RecordedState::bounced:
            return "bounced";
        case RecordedState::expired:
            return "expired";
        case RecordedState::lease_lost:
            break;
    }
    throw std::logic_error("no state name for lease_lost");
}

bool is_hard_bounce(const Outcome& outcome) {
    // RFC 3463: 5.1.x are addressing failures (no such user, bad domain): permanent.
    return outcome.kind == Outcome::Kind::bounced && outcome.status.starts_with("5.1.");
}

}  // namespace

std::vector<std::int64_t> Claim::recipient_ids() const {
    std::vector<std::int64_t> ids;
    ids.reserve(recipients);
    for (const auto& group : domains) {
        for (const auto& message : group.messages) {
            for (const auto& recipient : message.recipients)
                ids.push_back(recipient.id);
        }
    }
    return ids;
}

Claims::Claims(pg::Pool& pool, RetrySchedule& schedule) : pool_(pool), schedule_(schedule) {}

asio::awaitable<Result<Claim>> Claims::claim(std::string owner, std::chrono::milliseconds lease,
                                             std::size_t max_recipients, std::size_t max_domains) {
    if (max_recipients == 0 || max_domains == 0) co_return Claim{};
    auto rows = co_await pool_.query(k_claim, owner, static_cast<std::int64_t>(lease.count()),
                                     static_cast<std::int64_t>(max_recipients),
                                     static_cast<std::int64_t>(max_domains));
    if (!rows) co_return rows.error();
    co_return group_claim(*rows);
}

asio::awaitable<Result<std::size_t>> Claims::extend_lease(std::string owner,
                                                          std::vector<std::int64_t> ids,
                                                          std::chrono::milliseconds lease) {
    if (ids.empty()) co_return std::size_t{0};
    auto rows = co_await pool_.query(k_extend_lease, owner, id_array(ids),
                                     static_cast<std::int64_t>(lease.count()));
    if (!rows) co_return rows.error();
    co_return rows->affected();
}

asio::awaitable<Result<RecordReport>> Claims::record(std::string owner,
                                                     std::vector<Outcome> outcomes) {
    co_return co_await record(std::move(owner), std::move(outcomes),
                              std::chrono::system_clock::now());
}

asio::awaitable<Result<RecordReport>> Claims::record(std::string owner,
                                                     std::vector<Outcome> outcomes, TimePoint now) {
    auto planned = plan(outcomes, now);
    auto report = co_await record(std::move(owner), std::move(outcomes), std::move(planned), {});
    co_return report;
}

std::vector<PlannedOutcome> Claims::plan(const std::vector<Outcome>& outcomes, TimePoint now) {
    std::vector<PlannedOutcome> planned;
    planned.reserve(outcomes.size());
    for (const Outcome& outcome : outcomes) {
        PlannedOutcome p;
        switch (outcome.kind) {
            case Outcome::Kind::delivered:
                p.state = RecordedState::delivered;
                break;
            case Outcome::Kind::bounced:
                p.state = RecordedState::bounced;
                break;
            case Outcome::Kind::deferred: {
                const auto decision =
                    schedule_.after_temporary_failure(outcome.received_at, outcome.attempts, now);
                p.state = decision.expire ? RecordedState::expired : RecordedState::deferred;
                if (!decision.expire) p.next_attempt_at = decision.next_attempt_at;
                break;
            }
        }
        planned.push_back(p);
    }
    return planned;
}

asio::awaitable<Result<RecordReport>> Claims::record(std::string owner,
                                                     std::vector<Outcome> outcomes,
                                                     std::vector<PlannedOutcome> planned,
                                                     std::vector<QueuedReport> reports) {
    RecordReport report;
    if (outcomes.empty()) co_return report;
    if (planned.size() != outcomes.size())
        planned = plan(outcomes, std::chrono::system_clock::now());
    std::vector<pg::Statement> statements;
    statements.reserve(outcomes.size() + reports.size() + 2);
    std::vector<std::int64_t> ids;
    for (const Outcome& outcome : outcomes)
        ids.push_back(outcome.recipient_id);
    statements.push_back(pg::Statement{k_lock_recipients, {pg::text(id_array(ids))}});
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        const Outcome& outcome = outcomes[i];
        const PlannedOutcome& p = planned[i];
        const bool hard_bounce = is_hard_bounce(outcome);
        pg::Param next_attempt = pg::null_param();
        if (p.next_attempt_at) next_attempt = pg::to_param(micros_since_epoch(*p.next_attempt_at));
        statements.push_back(pg::Statement{
            k_record,
            {
                pg::to_param(outcome.recipient_id),
                pg::text(owner),
                pg::text(state_name(p.state)),
                pg::text(outcome.reply),
                std::move(next_attempt),
                pg::text(outcome.remote_host),
                pg::text(outcome.remote_ip),
                pg::text(outcome.tls_version),
                pg::to_param(hard_bounce),
                pg::text(hard_bounce ? smtp::canonical_address(outcome.address) : std::string()),
            }});
    }
    for (const QueuedReport& queued : reports)
        statements.push_back(insert_message_statement(queued.message, &queued.reported_recipients));
    if (!reports.empty()) statements.push_back(notify_queue_statement());
    // The outcomes happened: recording them must not give up on a transient conflict,
    // or the leases run out and the messages go out a second time. A transaction that
    // PostgreSQL aborted left nothing behind, so it is simply run again.
    auto results = co_await pool_.transaction(statements);
    for (int retry = 0; retry < k_record_retries && !results && is_transient(results.error());
         ++retry)
        results = co_await pool_.transaction(statements);
    if (!results) co_return results.error();
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        const bool updated = (*results)[1 + i].get_int(0, 0) == 1;
        report.states.push_back(updated ? planned[i].state : RecordedState::lease_lost);
        if (updated) ++report.updated;
    }
    for (std::size_t i = 0; i < reports.size(); ++i)
        report.reports_stored.push_back((*results)[1 + outcomes.size() + i].affected() > 0);
    co_return report;
}

asio::awaitable<Result<std::size_t>> Claims::release(std::string owner) {
    auto rows = co_await pool_.query(k_release_all, owner);
    if (!rows) co_return rows.error();
    co_return rows->affected();
}

asio::awaitable<Result<std::size_t>> Claims::release(std::string owner,
                                                     std::vector<std::int64_t> ids) {
    if (ids.empty()) co_return std::size_t{0};
    auto rows = co_await pool_.query(k_release_some, owner, id_array(ids));
    if (!rows) co_return rows.error();
    co_return rows->affected();
}

}  // namespace smarthost::queue
