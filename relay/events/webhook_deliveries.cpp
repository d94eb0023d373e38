#include "relay/events/webhook_deliveries.hpp"

#include <algorithm>

#include "core/pg/pool.hpp"

namespace smarthost::events {
namespace {

namespace asio = boost::asio;

// `heads`: the first pending delivery of each endpoint and account, leased or not — a
// leased head blocks its successors as much as a due one. Of the heads, those due and
// not leased are locked with SKIP LOCKED (disjoint claims); the lock re-checks the
// lease, so a head another sender leased meanwhile is left out.
constexpr const char* k_claim = R"sql(
WITH heads AS (
    SELECT DISTINCT ON (endpoint_id, order_key) id
    FROM webhook_deliveries
    WHERE state = 'pending'
    ORDER BY endpoint_id, order_key, event_seq
), due AS (
    SELECT d.id FROM webhook_deliveries d
    JOIN heads h ON h.id = d.id
    JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled
    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at < now())
    ORDER BY d.next_attempt_at, d.id
    LIMIT $3
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d
    SET lease_owner = $1, lease_expires_at = now() + $2::bigint * interval '1 millisecond',
        attempts = d.attempts + 1, updated_at = now()
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.endpoint_id, d.event_id, d.attempts
)
SELECT c.id, c.endpoint_id, e.id::text, e.kind, e.payload::text, w.url, w.secret, c.attempts,
       extract(epoch FROM now() - e.created_at)::bigint
FROM claimed c JOIN webhook_events e ON e.id = c.event_id
JOIN webhook_endpoints w ON w.id = c.endpoint_id
ORDER BY c.id)sql";

// $3 delivered, $4 status, $5 error, $6 give up, $7 retry delay in seconds.
constexpr const char* k_record = R"sql(
WITH done AS (
    UPDATE webhook_deliveries
    SET state = CASE WHEN $3 THEN 'delivered' WHEN $6 THEN 'failed' ELSE 'pending' END,
        delivered_at = CASE WHEN $3 THEN now() END,
        next_attempt_at = CASE WHEN $3 OR $6 THEN next_attempt_at
                               ELSE now() + $7::bigint * interval '1 second' END,
        last_status = $4::int, last_error = nullif($5, ''),
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = $2 AND lease_owner = $1 AND state = 'pending'
    RETURNING endpoint_id
), health AS (
    UPDATE webhook_endpoints w
    SET last_success_at = CASE WHEN $3 THEN now() ELSE w.last_success_at END,
        last_failure_at = CASE WHEN $3 THEN w.last_failure_at ELSE now() END,
        last_failure_reason = CASE WHEN $3 THEN w.last_failure_reason ELSE nullif($5, '') END,
        consecutive_failures = CASE WHEN $3 THEN 0 ELSE w.consecutive_failures + 1 END
    FROM done WHERE w.id = done.endpoint_id
)
SELECT count(*) FROM done)sql";

constexpr const char* k_purge_deliveries = R"sql(
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE (state = 'delivered' AND updated_at < now() - $1::bigint * interval '1 second')
       OR (state = 'failed' AND updated_at < now() - $2::bigint * interval '1 second')
    LIMIT $3))sql";

constexpr const char* k_purge_events = R"sql(
DELETE FROM webhook_events WHERE id IN (
    SELECT e.id FROM webhook_events e
    WHERE e.created_at < now() - $1::bigint * interval '1 second'
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
    LIMIT $2))sql";

constexpr std::size_t k_max_error_length = 500;

}  // namespace

asio::awaitable<Result<std::vector<ClaimedDelivery>>> WebhookDeliveries::claim(
    std::string owner, std::chrono::milliseconds lease, std::size_t max) {
    std::vector<ClaimedDelivery> claimed;
    if (max == 0) co_return claimed;
    auto rows = co_await pool_.query(k_claim, owner, static_cast<std::int64_t>(lease.count()),
                                     static_cast<std::int64_t>(max));
    if (!rows) co_return rows.error();
    for (std::size_t row = 0; row < rows->size(); ++row) {
        ClaimedDelivery delivery;
        delivery.id = rows->get_int(row, 0);
        delivery.endpoint_id = rows->get_int(row, 1);
        delivery.event_id = std::string(rows->get(row, 2));
        delivery.kind = std::string(rows->get(row, 3));
        delivery.body = std::string(rows->get(row, 4));
        delivery.url = std::string(rows->get(row, 5));
        delivery.secret = std::string(rows->get(row, 6));
        delivery.attempts = rows->get_int(row, 7);
        delivery.age = std::chrono::seconds(std::max<std::int64_t>(0, rows->get_int(row, 8)));
        claimed.push_back(std::move(delivery));
    }
    co_return claimed;
}

asio::awaitable<Result<bool>> WebhookDeliveries::record(std::string owner, std::int64_t id,
                                                        DeliveryOutcome outcome) {
    std::string error = outcome.error.substr(0, k_max_error_length);
    std::optional<std::int64_t> status;
    if (outcome.status) status = *outcome.status;
    const bool give_up = !outcome.delivered && !outcome.retry_after;
    const std::int64_t delay = outcome.retry_after ? outcome.retry_after->count() : 0;
    auto rows =
        co_await pool_.query(k_record, owner, id, outcome.delivered, status, error, give_up, delay);
    if (!rows) co_return rows.error();
    co_return rows->get_int(0, 0) == 1;
}

asio::awaitable<Result<PurgeReport>> WebhookDeliveries::purge(
    std::chrono::seconds delivered_retention, std::chrono::seconds failed_retention,
    std::int64_t batch) {
    PurgeReport report;
    auto deliveries = co_await pool_.query(
        k_purge_deliveries, static_cast<std::int64_t>(delivered_retention.count()),
        static_cast<std::int64_t>(failed_retention.count()), batch);
    if (!deliveries) co_return deliveries.error();
    report.deliveries = deliveries->affected();
    const auto events_retention = std::min(delivered_retention, failed_retention);
    auto events = co_await pool_.query(k_purge_events,
                                       static_cast<std::int64_t>(events_retention.count()), batch);
    if (!events) co_return events.error();
    report.events = events->affected();
    co_return report;
}

}  // namespace smarthost::events
