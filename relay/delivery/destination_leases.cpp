#include "relay/delivery/destination_leases.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/pg/pool.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using policy::RateLimit;

namespace {

// Grants up to $4 units of group $1's limit $2 in the window starting at $3 (Unix seconds),
// fewer as the window fills (a quarter of what is left, at least the $6 needed now), never
// past the limit $5 in force: a throttled limit below what is already leased grants
// nothing. The row lock makes last_grant exactly this statement's grant. One row.
constexpr const char* k_lease = R"sql(
WITH lease AS (
    INSERT INTO destination_usage AS u (group_name, limit_name, window_start, leased, last_grant)
    SELECT $1, $2, 'epoch'::timestamptz + $3::bigint * interval '1 second',
           least($4::bigint, $5::bigint), least($4::bigint, $5::bigint)
     WHERE $5::bigint > 0
    ON CONFLICT (group_name, limit_name, window_start) DO UPDATE
    SET last_grant = least(excluded.last_grant, greatest($6::bigint, ($5::bigint - u.leased) / 4),
                           $5::bigint - u.leased),
        leased = u.leased + least(excluded.last_grant,
                                  greatest($6::bigint, ($5::bigint - u.leased) / 4),
                                  $5::bigint - u.leased)
    WHERE u.leased < $5::bigint
    RETURNING last_grant
)
SELECT coalesce((SELECT last_grant FROM lease), 0))sql";

// Rows of windows that ended long ago on the caller's clock (the longest window is an hour).
constexpr const char* k_cleanup = R"sql(
DELETE FROM destination_usage
 WHERE window_start < 'epoch'::timestamptz + $1::bigint * interval '1 second')sql";

constexpr auto k_usage_retention = 3h;

std::int64_t epoch_seconds(SystemTime t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::uint64_t throttled(std::uint64_t limit, double throttle) {
    if (limit == 0) return 0;
    const double scaled = std::floor(static_cast<double>(limit) * std::clamp(throttle, 0.0, 1.0));
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(scaled));
}

RateGrant grant_from(const std::vector<LimitHolding>& holdings, std::size_t wanted,
                     SystemTime now) {
    RateGrant grant{wanted, now};
    for (const auto& holding : holdings)
        grant.granted = std::min<std::size_t>(grant.granted, holding.held);
    if (grant.granted == wanted) return grant;
    // The windows that bind: before the latest of them ends, no more can go.
    for (const auto& holding : holdings)
        if (holding.held == grant.granted)
            grant.retry_at = std::max(grant.retry_at, holding.window_end);
    return grant;
}

DestinationLeases::DestinationLeases(pg::Pool& pool, std::uint64_t max_block)
    : pool_(pool), max_block_(max_block) {}

std::uint64_t DestinationLeases::held(const std::string& group, RateLimit limit,
                                      SystemTime now) const {
    return ledger_.held(0, group, limit, policy::window_of(limit, now));
}

asio::awaitable<Result<RateGrant>> DestinationLeases::take(std::string group, GroupRates rates,
                                                           std::size_t wanted, SystemTime now) {
    ledger_.expire(now);
    if (now - last_cleanup_ > 1h) {
        last_cleanup_ = now;
        auto cleaned = co_await pool_.query(k_cleanup, epoch_seconds(now - k_usage_retention));
        if (!cleaned)
            spdlog::warn("delivery: destination_usage cleanup failed: {}", cleaned.error().message);
    }
    const std::vector<std::pair<RateLimit, std::uint64_t>> limits{
        {RateLimit::messages_per_minute, rates.per_minute},
        {RateLimit::messages_per_hour, rates.per_hour}};
    // Limits the local blocks cannot cover are leased together, in one transaction.
    std::vector<pg::Statement> leases;
    std::vector<std::pair<RateLimit, policy::Window>> leased;
    for (const auto& [limit, value] : limits) {
        if (value == 0) continue;
        const auto window = policy::window_of(limit, now);
        const std::uint64_t have = ledger_.held(0, group, limit, window);
        if (have >= wanted) continue;
        const std::uint64_t needed = wanted - have;
        const std::uint64_t want = policy::lease_request(value, needed, max_block_);
        leases.push_back(pg::Statement{
            k_lease,
            pg::params_of(group, std::string(policy::name_of(limit)), epoch_seconds(window.start),
                          static_cast<std::int64_t>(want), static_cast<std::int64_t>(value),
                          static_cast<std::int64_t>(needed))});
        leased.emplace_back(limit, window);
    }
    if (!leases.empty()) {
        auto granted = co_await pool_.transaction(std::move(leases));
        if (!granted) co_return granted.error();
        for (std::size_t i = 0; i < leased.size(); ++i) {
            const auto units = (*granted)[i].get_int(0, 0);
            if (units > 0)
                ledger_.add(0, group, leased[i].first, leased[i].second,
                            static_cast<std::uint64_t>(units));
        }
    }
    std::vector<LimitHolding> holdings;
    for (const auto& [limit, value] : limits) {
        if (value == 0) continue;
        const auto window = policy::window_of(limit, now);
        holdings.push_back(LimitHolding{ledger_.held(0, group, limit, window), window.end});
    }
    const RateGrant grant = grant_from(holdings, wanted, now);
    for (const auto& [limit, value] : limits) {
        if (value == 0 || grant.granted == 0) continue;
        ledger_.take(0, group, limit, policy::window_of(limit, now), grant.granted);
    }
    co_return grant;
}

}  // namespace smarthost::delivery
