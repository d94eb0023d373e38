// Settling a claim (Claims::plan and Claims::record): what each attempt leaves its
// recipient in (the retry schedule decides between deferred and expired), written with its
// events, suppressions and bounce reports in one transaction, only while the lease holds.
// Claiming, leases and releases are in claims.cpp.
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "core/pg/pool.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/recipient_locks.hpp"
#include "relay/smtp/address.hpp"

namespace smarthost::queue {

namespace asio = boost::asio;

namespace {

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

// Deadlock and serialization failures: PostgreSQL rolled the transaction back.
bool is_transient(const Error& error) {
    return error.code == "40P01" || error.code == "40001";
}
constexpr int k_record_retries = 3;

std::int64_t micros_since_epoch(TimePoint when) {
    return std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
}

bool is_hard_bounce(const Outcome& outcome) {
    // RFC 3463: 5.1.x are addressing failures (no such user, bad domain): permanent.
    return outcome.kind == Outcome::Kind::bounced && outcome.status.starts_with("5.1.");
}

}  // namespace

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
    return "lease_lost";
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

}  // namespace smarthost::queue
