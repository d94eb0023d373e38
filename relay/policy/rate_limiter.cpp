#include "relay/policy/rate_limiter.hpp"

#include <spdlog/spdlog.h>

#include "core/pg/pool.hpp"

namespace smarthost::policy {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Grants `want` ($4) units of scope $7, fewer as the window fills (a quarter of what is
// left, at least the n ($6) needed now), never past the limit ($5), and nothing when fewer
// than n are left. last_grant reports what this statement granted: the row lock makes it
// exact. A sub-user's first row of a window is made only while the account has fewer than
// $8 sub-user rows in that window (0: no bound); `room` says whether that held. One row.
constexpr const char* k_lease = R"sql(
WITH w AS (
    SELECT 'epoch'::timestamptz + $3::bigint * interval '1 second' AS window_start
), r AS (
    SELECT $8::bigint = 0
           OR EXISTS (SELECT 1 FROM rate_usage e, w
                       WHERE e.account_id = $1 AND e.limit_name = $2
                         AND e.window_start = w.window_start AND e.scope = $7)
           OR (SELECT count(*) FROM (SELECT 1 FROM rate_usage e, w
                                      WHERE e.account_id = $1 AND e.limit_name = $2
                                        AND e.window_start = w.window_start
                                        AND starts_with(e.scope, 'sub_user:')
                                      LIMIT $8::bigint) c) < $8::bigint AS room
), lease AS (
    INSERT INTO rate_usage AS u (account_id, limit_name, window_start, scope, leased, last_grant)
    SELECT $1, $2, w.window_start, $7, least($4::bigint, $5::bigint), least($4::bigint, $5::bigint)
      FROM w, r
     WHERE $6::bigint <= $5::bigint AND r.room
    ON CONFLICT (account_id, limit_name, window_start, scope) DO UPDATE
    SET last_grant = least(excluded.last_grant, greatest($6::bigint, ($5::bigint - u.leased) / 4),
                           $5::bigint - u.leased),
        leased = u.leased + least(excluded.last_grant,
                                  greatest($6::bigint, ($5::bigint - u.leased) / 4),
                                  $5::bigint - u.leased)
    WHERE u.leased + $6::bigint <= $5::bigint
    RETURNING last_grant
)
SELECT (SELECT last_grant FROM lease), (SELECT room FROM r))sql";

// Rows of windows that ended long before the caller's `now`. The cut-off comes from the
// same clock as the windows, never from the database's now(): a caller whose clock is
// behind the database's must not see its current window deleted (the limit would restart).
// Minute rows go after an hour: a sub-user's make up most of its rows.
constexpr const char* k_cleanup = R"sql(
DELETE FROM rate_usage
 WHERE window_start < 'epoch'::timestamptz + $1::bigint * interval '1 second'
    OR (limit_name = 'messages_per_minute'
        AND window_start < 'epoch'::timestamptz + $2::bigint * interval '1 second'))sql";

std::int64_t epoch_seconds(SystemTime t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// One lease of `want` units (at least n) of `limit` in `window`, whose value is `value`;
// returns the units granted as its one row, or no row when fewer than n are left.
pg::Statement lease_statement(std::int64_t account_id, const ScopedLimits& scope, RateLimit limit,
                              const Window& window, std::uint64_t value, std::uint64_t want,
                              std::uint64_t n) {
    std::vector<pg::Param> params;
    params.push_back(pg::to_param(account_id));
    params.push_back(pg::text(std::string(name_of(limit))));
    params.push_back(pg::to_param(epoch_seconds(window.start)));
    params.push_back(pg::to_param(static_cast<std::int64_t>(want)));
    params.push_back(pg::to_param(static_cast<std::int64_t>(value)));
    params.push_back(pg::to_param(static_cast<std::int64_t>(n)));
    params.push_back(pg::text(scope.scope));
    params.push_back(pg::to_param(static_cast<std::int64_t>(scope.max_scopes)));
    return pg::Statement{k_lease, std::move(params)};
}

}  // namespace

RateLimiter::RateLimiter(pg::Pool& pool, Settings settings) : pool_(pool), settings_(settings) {}

std::uint64_t RateLimiter::held(std::int64_t account_id, RateLimit limit, SystemTime now) const {
    return ledger_.held(account_id, limit, window_of(limit, now));
}

std::uint64_t RateLimiter::held(std::int64_t account_id, const QuotaScope& scope, RateLimit limit,
                                SystemTime now) const {
    return ledger_.held(account_id, scope, limit, window_of(limit, now));
}

asio::awaitable<Result<std::optional<LimitExceeded>>> RateLimiter::acquire(
    std::int64_t account_id, std::vector<LimitValue> limits, std::uint64_t n, SystemTime now) {
    std::vector<ScopedLimits> scopes(1);
    scopes.front().limits = std::move(limits);
    auto result = co_await acquire(account_id, std::move(scopes), n, now);
    co_return result;
}

asio::awaitable<Result<std::optional<LimitExceeded>>> RateLimiter::acquire(
    std::int64_t account_id, std::vector<ScopedLimits> scopes, std::uint64_t n, SystemTime now) {
    ledger_.expire(now);
    if (now - last_cleanup_ > 1h) {
        last_cleanup_ = now;
        std::vector<pg::Param> cut_off;
        cut_off.push_back(pg::to_param(epoch_seconds(now - k_rate_usage_retention)));
        cut_off.push_back(pg::to_param(epoch_seconds(now - k_minute_rate_usage_retention)));
        auto cleaned = co_await pool_.execute(k_cleanup, std::move(cut_off));
        if (!cleaned)
            spdlog::warn("policy: rate_usage cleanup failed: {}", cleaned.error().message);
    }
    struct Taken {
        const QuotaScope* scope;
        RateLimit limit;
        Window window;
    };
    std::vector<Taken> taken;
    const auto give_back = [&] {
        for (const auto& [scope, limit, window] : taken)
            ledger_.add(account_id, *scope, limit, window, n);
    };
    // Limits the ledger cannot cover are leased together: one transaction and one WAL
    // flush for an account's first message of a window, not one per limit.
    struct Needed {
        const ScopedLimits* scope;
        RateLimit limit;
        Window window;
        std::uint64_t value;
    };
    std::vector<Needed> needed;
    std::vector<pg::Statement> leases;
    for (const auto& scope : scopes) {
        for (const auto& [limit, value] : scope.limits) {
            if (value == 0) continue;
            const Window window = window_of(limit, now);
            if (ledger_.take(account_id, scope.scope, limit, window, n)) {
                taken.push_back(Taken{&scope.scope, limit, window});
                continue;
            }
            const std::uint64_t want = lease_request(value, n, settings_.max_block);
            leases.push_back(lease_statement(account_id, scope, limit, window, value, want, n));
            needed.push_back(Needed{&scope, limit, window, value});
        }
    }
    if (needed.empty()) co_return std::optional<LimitExceeded>();
    auto granted = co_await pool_.transaction(std::move(leases));
    if (!granted) {
        give_back();
        co_return granted.error();
    }
    std::optional<LimitExceeded> exceeded;
    for (std::size_t i = 0; i < needed.size(); ++i) {
        const auto& [scope, limit, window, value] = needed[i];
        const auto& rows = (*granted)[i];
        const bool granted_any = !rows.empty() && !rows.is_null(0, 0);
        const std::uint64_t units =
            granted_any ? static_cast<std::uint64_t>(rows.get_int(0, 0)) : 0;
        if (units > 0) ledger_.add(account_id, scope->scope, limit, window, units);
        if (exceeded) continue;  // keep what was granted for later messages
        if (ledger_.take(account_id, scope->scope, limit, window, n)) {
            taken.push_back(Taken{&scope->scope, limit, window});
        } else if (!rows.empty() && !rows.get_bool(0, 1)) {
            exceeded = LimitExceeded{limit, scope->max_scopes, window.end, scope->scope, true};
        } else {
            exceeded = LimitExceeded{limit, value, window.end, scope->scope, false};
        }
    }
    if (exceeded) {
        give_back();
        co_return exceeded;
    }
    co_return std::optional<LimitExceeded>();
}

}  // namespace smarthost::policy
