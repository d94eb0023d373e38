#include "relay/queue/retention.hpp"

#include <cstdint>
#include <vector>

#include "core/pg/pool.hpp"

namespace smarthost::queue {

namespace asio = boost::asio;

namespace {

// $1 is a cut-off in microseconds since the epoch (exact, unlike a float of seconds), $2
// the batch size, $3 the caller's now in microseconds.

// received_at bounds the final times from below, so it prefilters cheaply.
constexpr const char* k_purge_bodies = R"sql(
WITH cut_off AS (
    SELECT 'epoch'::timestamptz + $1::bigint * interval '1 microsecond' AS at
), purgeable AS (
    SELECT m.id FROM messages m, cut_off
    WHERE m.body IS NOT NULL
      AND m.received_at < cut_off.at
      AND NOT EXISTS (
          SELECT 1 FROM recipients r
          WHERE r.message_id = m.id
            AND (r.state NOT IN ('delivered', 'bounced', 'expired', 'cancelled')
                 OR r.updated_at >= cut_off.at))
    ORDER BY m.received_at
    LIMIT $2
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE messages m
SET body = NULL, body_deleted_at = 'epoch'::timestamptz + $3::bigint * interval '1 microsecond'
FROM purgeable p WHERE m.id = p.id)sql";

constexpr const char* k_purge_events = R"sql(
DELETE FROM events WHERE id IN (
    SELECT id FROM events
    WHERE created_at < 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'
    ORDER BY created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED))sql";

constexpr const char* k_purge_rejections = R"sql(
DELETE FROM rejections WHERE id IN (
    SELECT id FROM rejections
    WHERE created_at < 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'
    ORDER BY created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED))sql";

constexpr const char* k_purge_suspicious_logins = R"sql(
DELETE FROM auth_suspicious_logins WHERE id IN (
    SELECT id FROM auth_suspicious_logins
    WHERE logged_in_at < 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'
    ORDER BY logged_in_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED))sql";

// RFC 8461 5.1: an expired policy is never used again, so it need not be kept.
constexpr const char* k_purge_mta_sts_policies = R"sql(
DELETE FROM mta_sts_policies WHERE domain IN (
    SELECT domain FROM mta_sts_policies
    WHERE expires_at <= 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'
    ORDER BY expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED))sql";

std::int64_t micros_since_epoch(std::chrono::system_clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
}

pg::Statement purge_statement(const char* sql, std::chrono::system_clock::time_point now,
                              std::chrono::seconds period, std::size_t limit) {
    std::vector<pg::Param> params;
    params.push_back(pg::to_param(micros_since_epoch(now - period)));
    params.push_back(pg::to_param(static_cast<std::int64_t>(limit)));
    return pg::Statement{sql, std::move(params)};
}

}  // namespace

bool PurgeReport::more(std::size_t limit) const {
    return bodies_deleted >= limit || events_deleted >= limit || rejections_deleted >= limit ||
           suspicious_logins_deleted >= limit || mta_sts_policies_deleted >= limit;
}

asio::awaitable<Result<PurgeReport>> purge(pg::Pool& pool, RetentionPeriods periods,
                                           std::chrono::system_clock::time_point now,
                                           std::size_t limit) {
    // Built outside the co_await: g++ 12 cannot take an initializer list across a suspension.
    std::vector<pg::Statement> statements;
    statements.push_back(purge_statement(k_purge_bodies, now, periods.bodies, limit));
    statements.back().params.push_back(pg::to_param(micros_since_epoch(now)));
    statements.push_back(purge_statement(k_purge_events, now, periods.events, limit));
    statements.push_back(purge_statement(k_purge_rejections, now, periods.rejections, limit));
    statements.push_back(
        purge_statement(k_purge_suspicious_logins, now, periods.suspicious_logins, limit));
    statements.push_back(
        purge_statement(k_purge_mta_sts_policies, now, std::chrono::seconds(0), limit));
    auto results = co_await pool.transaction(std::move(statements));
    if (!results) co_return results.error();
    PurgeReport report;
    report.bodies_deleted = (*results)[0].affected();
    report.events_deleted = (*results)[1].affected();
    report.rejections_deleted = (*results)[2].affected();
    report.suspicious_logins_deleted = (*results)[3].affected();
    report.mta_sts_policies_deleted = (*results)[4].affected();
    co_return report;
}

}  // namespace smarthost::queue
