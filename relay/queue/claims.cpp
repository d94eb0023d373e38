#include "relay/queue/claims.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/pg/pool.hpp"
#include "relay/queue/recipient_locks.hpp"

namespace smarthost::queue {

namespace asio = boost::asio;

namespace {

// Expired leases first (their recipients have waited longest), then due recipients,
// each locked with SKIP LOCKED so concurrent claimers take disjoint sets. Of those, the
// first $4 domains by earliest due time, at most $3 recipients, are candidates; the rest
// are unlocked again when the statement commits. Then the byte cap $5: the candidates'
// messages in the order of their first recipient, each counted once however many of its
// recipients (and domains) are leased, are taken while their bodies add up to at most $5
// bytes — and the first always, so a message bigger than the cap still goes, alone. A
// purged body weighs nothing. Bodies are not returned here: k_fetch_bodies brings them.
// Due recipients of a unit under an active hold (relay/queue/holds.hpp) are parked as
// 'held' instead; without active holds that part costs one look at an empty index. The
// holds are locked FOR SHARE, so a release waits for a claim that parks under them, and
// its release job then finds what the claim parked.
constexpr const char* k_claim = R"sql(
WITH reclaim AS (
    SELECT id, message_id, domain, next_attempt_at AS due_at FROM recipients
    WHERE state = 'in_flight' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id, message_id, domain, next_attempt_at AS due_at FROM recipients
    WHERE state IN ('queued', 'deferred') AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), found AS (
    SELECT * FROM reclaim UNION ALL SELECT * FROM due
), active_hold AS MATERIALIZED (
    SELECT id, account_id, credential_id, sub_user, reason FROM holds WHERE released_at IS NULL
    FOR SHARE
), contained AS (
    SELECT f.id, f.message_id, held.hold_id
    FROM found f JOIN messages m ON m.id = f.message_id
    CROSS JOIN LATERAL (
        SELECT min(h.id) AS hold_id FROM active_hold h
        WHERE h.account_id = m.account_id
          AND (h.credential_id IS NULL OR h.credential_id = m.credential_id)
          AND (h.sub_user IS NULL OR h.sub_user = m.sub_user)) AS held
    WHERE EXISTS (SELECT 1 FROM active_hold) AND held.hold_id IS NOT NULL
), parked AS (
    UPDATE recipients r
    SET state = 'held', hold_id = c.hold_id, lease_owner = NULL, lease_expires_at = NULL,
        updated_at = now()
    FROM contained c WHERE r.id = c.id
    RETURNING r.id, r.message_id, r.hold_id
), parked_event AS (
    INSERT INTO events (message_id, recipient_id, kind, reply)
    SELECT p.message_id, p.id, 'held', 'held: ' || h.reason
    FROM parked p JOIN active_hold h ON h.id = p.hold_id
), candidate AS (
    SELECT id, message_id, domain, due_at, min(due_at) OVER (PARTITION BY domain) AS domain_due
    FROM found WHERE id NOT IN (SELECT id FROM contained)
), ranked AS (
    SELECT id, message_id,
           dense_rank() OVER (ORDER BY domain_due, domain) AS domain_rank,
           row_number() OVER (ORDER BY domain_due, domain, due_at, id) AS position
    FROM candidate
), within_limits AS (
    SELECT id, message_id, min(position) OVER (PARTITION BY message_id) AS message_position
    FROM ranked WHERE domain_rank <= $4 AND position <= $3
), message_bytes AS (
    SELECT w.message_id,
           row_number() OVER (ORDER BY w.message_position) AS message_rank,
           sum(CASE WHEN m.body IS NULL THEN 0 ELSE m.size_bytes END)
               OVER (ORDER BY w.message_position) AS running_bytes
    FROM (SELECT DISTINCT message_id, message_position FROM within_limits) AS w
    JOIN messages m ON m.id = w.message_id
), fitting AS (
    SELECT message_id FROM message_bytes WHERE message_rank = 1 OR running_bytes <= $5
), claimed AS (
    UPDATE recipients r
    SET state = 'in_flight', lease_owner = $1,
        lease_expires_at = now() + $2::bigint * interval '1 millisecond',
        attempts = r.attempts + 1, updated_at = now()
    FROM within_limits w JOIN fitting f ON f.message_id = w.message_id
    WHERE r.id = w.id
    RETURNING r.id, r.message_id, r.address, r.domain, r.dsn_notify, r.dsn_orcpt, r.attempts,
              r.delay_warned
)
SELECT c.domain, replace(m.id::text, '-', ''), m.account_id, m.envelope_sender,
       row_number() OVER (PARTITION BY m.id ORDER BY c.domain, c.id) = 1 AND m.body IS NOT NULL,
       m.size_bytes, m.body_8bitmime, m.smtputf8, m.dsn_ret, m.dsn_envid,
       m.header_message_id, (extract(epoch FROM m.received_at) * 1000000)::bigint,
       c.id, c.address, c.dsn_notify, c.dsn_orcpt, c.attempts, a.name,
       (SELECT count(*) FROM message_bytes) > (SELECT count(*) FROM fitting), c.delay_warned,
       EXISTS (SELECT 1 FROM recipients o WHERE o.message_id = c.message_id AND o.domain <> c.domain)
FROM claimed c JOIN messages m ON m.id = c.message_id JOIN accounts a ON a.id = m.account_id
ORDER BY c.domain, m.id, c.id)sql";

// The claimed bodies, in binary result format: the bytea arrives as its raw bytes and is
// copied once into the message, where the text format sent twice as many hex digits to
// decode. Only text and bytea columns, whose binary format is their bytes.
constexpr const char* k_fetch_bodies = R"sql(
SELECT replace(id::text, '-', ''), body FROM messages
WHERE id = ANY($1::uuid[]) AND body IS NOT NULL)sql";

// A body larger than a slice comes in slices, one statement each. libpq holds a row whole
// in its input buffer (which keeps that size for the connection's life) and again in the
// result it is copied out of: slices keep both near 4 MiB, where a 25 MiB body fetched
// whole took 50 MiB beside its own copy (bench/RESULTS.md "Body memory").
constexpr std::int64_t k_body_slice_bytes = 4 << 20;
constexpr const char* k_fetch_body_slice = R"sql(
SELECT substring(body FROM $2::int + 1 FOR $3::int) FROM messages
WHERE id = $1::uuid AND body IS NOT NULL)sql";

// Smaller bodies come whole, in groups of about this many bytes.
constexpr std::int64_t k_fetch_group_bytes = 4 << 20;

constexpr const char* k_extend_lease = R"sql(
WITH locked AS MATERIALIZED (
    SELECT id FROM recipients
    WHERE id = ANY($2::bigint[]) AND lease_owner = $1 AND state = 'in_flight'
    ORDER BY id FOR UPDATE
)
UPDATE recipients r
SET lease_expires_at = now() + $3::bigint * interval '1 millisecond', updated_at = now()
FROM locked WHERE r.id = locked.id)sql";

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

// Gives back `$2` of owner $1's recipients; due again as before, or at $3 when it is not
// NULL (microseconds since the epoch, the worker's clock: Claims::postpone).
constexpr const char* k_release_some = R"sql(
WITH locked AS MATERIALIZED (
    SELECT id FROM recipients
    WHERE lease_owner = $1 AND state = 'in_flight' AND id = ANY($2::bigint[])
    ORDER BY id FOR UPDATE
)
UPDATE recipients r
SET state = CASE WHEN r.attempts <= 1 THEN 'queued' ELSE 'deferred' END,
    attempts = greatest(r.attempts - 1, 0),
    next_attempt_at = coalesce('epoch'::timestamptz + $3::bigint * interval '1 microsecond',
                               r.next_attempt_at),
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
FROM locked WHERE r.id = locked.id)sql";

smtp::DsnReturn dsn_return(std::string_view ret) {
    if (ret == "FULL") return smtp::DsnReturn::full;
    if (ret == "HDRS") return smtp::DsnReturn::headers;
    return smtp::DsnReturn::unspecified;
}

std::string text_or_empty(const pg::Rows& rows, std::size_t row, std::size_t column) {
    return rows.is_null(row, column) ? std::string() : std::string(rows.get(row, column));
}

// A claimed message whose body is still to be fetched.
struct WantedBody {
    std::string message_id;
    std::int64_t size_bytes = 0;
};

// Rows are ordered by domain, message, recipient: consecutive rows fill the same group.
// Each message with a body is in `wanted` once.
Claim group_claim(const pg::Rows& rows, std::vector<WantedBody>& wanted) {
    enum Column {
        domain,
        message_id,
        account_id,
        sender,
        fetch_body,
        size_bytes,
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
        byte_cap_reached,
        delay_warned,
        other_domains,
    };
    Claim claim;
    if (!rows.empty()) claim.byte_cap_reached = rows.get_bool(0, byte_cap_reached);
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
            if (rows.get_bool(row, fetch_body))
                wanted.push_back(WantedBody{message.id, rows.get_int(row, size_bytes)});
            message.body_8bitmime = rows.get_bool(row, body_8bitmime);
            message.smtputf8 = rows.get_bool(row, smtputf8);
            message.ret = dsn_return(text_or_empty(rows, row, ret));
            message.envid = text_or_empty(rows, row, envid);
            message.header_message_id = text_or_empty(rows, row, header_message_id);
            message.received_at =
                TimePoint(std::chrono::microseconds(rows.get_int(row, received_micros)));
            message.other_domains = rows.get_bool(row, other_domains);
            messages.push_back(std::move(message));
        }
        messages.back().recipients.push_back(ClaimedRecipient{
            rows.get_int(row, recipient_id),
            std::string(rows.get(row, address)),
            text_or_empty(rows, row, notify),
            text_or_empty(rows, row, orcpt),
            static_cast<int>(rows.get_int(row, attempts)),
            rows.get_bool(row, delay_warned),
        });
        ++claim.recipients;
    }
    return claim;
}

using Bodies = std::unordered_map<std::string, std::shared_ptr<const std::string>>;

// A large body, slice by slice; null when it has been purged.
asio::awaitable<Result<std::shared_ptr<const std::string>>> fetch_sliced(pg::Pool& pool,
                                                                         const WantedBody& wanted) {
    std::string body;
    body.reserve(static_cast<std::size_t>(wanted.size_bytes));
    for (std::int64_t offset = 0;; offset += k_body_slice_bytes) {
        std::vector<pg::Param> params;
        params.push_back(pg::text(wanted.message_id));
        params.push_back(pg::to_param(offset));
        params.push_back(pg::to_param(k_body_slice_bytes));
        auto rows =
            co_await pool.execute(k_fetch_body_slice, std::move(params), pg::ResultFormat::binary);
        if (!rows) co_return rows.error();
        if (rows->size() == 0) co_return std::shared_ptr<const std::string>{};  // purged
        const auto slice = rows->get(0, 0);
        body.append(slice);
        if (static_cast<std::int64_t>(slice.size()) < k_body_slice_bytes) break;
    }
    co_return std::make_shared<const std::string>(std::move(body));
}

// One statement per k_fetch_group_bytes of small bodies; a large one in slices.
asio::awaitable<Result<Bodies>> fetch_bodies(pg::Pool& pool,
                                             const std::vector<WantedBody>& wanted) {
    Bodies bodies;
    std::size_t next = 0;
    const auto sliced = [](const WantedBody& body) { return body.size_bytes > k_body_slice_bytes; };
    while (next < wanted.size()) {
        if (sliced(wanted[next])) {
            auto body = co_await fetch_sliced(pool, wanted[next]);
            if (!body) co_return body.error();
            if (*body) bodies.emplace(wanted[next].message_id, std::move(*body));
            ++next;
            continue;
        }
        std::string ids = "{";
        std::int64_t group_bytes = 0;
        do {
            if (ids.size() > 1) ids += ',';
            ids += wanted[next].message_id;
            group_bytes += wanted[next].size_bytes;
            ++next;
        } while (next < wanted.size() && !sliced(wanted[next]) &&
                 group_bytes + wanted[next].size_bytes <= k_fetch_group_bytes);
        ids += '}';
        std::vector<pg::Param> params;
        params.push_back(pg::text(std::move(ids)));
        auto rows =
            co_await pool.execute(k_fetch_bodies, std::move(params), pg::ResultFormat::binary);
        if (!rows) co_return rows.error();
        for (std::size_t row = 0; row < rows->size(); ++row)
            bodies.emplace(std::string(rows->get(row, 0)),
                           std::make_shared<const std::string>(rows->get(row, 1)));
    }
    co_return bodies;
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

Claims::Claims(pg::Pool& pool) : pool_(pool) {}

asio::awaitable<Result<Claim>> Claims::claim(std::string owner, std::chrono::milliseconds lease,
                                             std::size_t max_recipients, std::size_t max_domains,
                                             std::size_t max_body_bytes) {
    if (max_recipients == 0 || max_domains == 0) co_return Claim{};
    const auto byte_cap = static_cast<std::int64_t>(
        std::min<std::size_t>(max_body_bytes, std::numeric_limits<std::int64_t>::max()));
    auto rows = co_await pool_.query(k_claim, owner, static_cast<std::int64_t>(lease.count()),
                                     static_cast<std::int64_t>(max_recipients),
                                     static_cast<std::int64_t>(max_domains), byte_cap);
    if (!rows) co_return rows.error();
    std::vector<WantedBody> wanted;
    Claim claim = group_claim(*rows, wanted);
    if (wanted.empty()) co_return claim;
    auto bodies = co_await fetch_bodies(pool_, wanted);
    if (!bodies) {
        // Nobody will attempt these: give them back now rather than when the lease ends.
        auto released = co_await release(owner, claim.recipient_ids());
        (void)released;
        co_return bodies.error();
    }
    for (const auto& [id, body] : *bodies)
        claim.body_bytes += body->size();
    // One copy per message, shared by every domain group it is in. A body purged since
    // the lease was taken stays null, as if it had been purged before.
    for (auto& group : claim.domains) {
        for (auto& message : group.messages) {
            if (auto found = bodies->find(message.id); found != bodies->end())
                message.body = found->second;
        }
    }
    co_return claim;
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

asio::awaitable<Result<std::size_t>> Claims::release(std::string owner) {
    auto rows = co_await pool_.query(k_release_all, owner);
    if (!rows) co_return rows.error();
    co_return rows->affected();
}

asio::awaitable<Result<std::size_t>> Claims::release(std::string owner,
                                                     std::vector<std::int64_t> ids) {
    if (ids.empty()) co_return std::size_t{0};
    std::vector<pg::Param> params;
    params.push_back(pg::text(owner));
    params.push_back(pg::text(id_array(ids)));
    params.push_back(pg::null_param());
    auto rows = co_await pool_.execute(k_release_some, std::move(params));
    if (!rows) co_return rows.error();
    co_return rows->affected();
}

asio::awaitable<Result<std::size_t>> Claims::postpone(std::string owner,
                                                      std::vector<std::int64_t> ids,
                                                      TimePoint due_at) {
    if (ids.empty()) co_return std::size_t{0};
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(due_at.time_since_epoch()).count();
    auto rows = co_await pool_.query(k_release_some, owner, id_array(ids),
                                     static_cast<std::int64_t>(micros));
    if (!rows) co_return rows.error();
    co_return rows->affected();
}

}  // namespace smarthost::queue
