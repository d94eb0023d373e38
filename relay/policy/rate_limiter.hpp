#pragma once
// Per-account rate limits that hold across every replica sharing the database (DESIGN.md
// contract 5, docs/policy.md "Rate limits"). A process serves units from quota it has
// leased in blocks from PostgreSQL (table rate_usage, one row per account, limit and
// window), so the common case costs no database round trip; a block runs out → one
// statement leases the next. The database never grants more than the limit in all, so
// replicas together never accept more than the limit: the overshoot is zero for every
// window. Runs on one executor, like the sessions that call it.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "relay/policy/rate_windows.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

// A limit and its value for the account; 0 means no limit.
using LimitValue = std::pair<RateLimit, std::uint64_t>;

// The limits of one scope of an account (rate_windows.hpp): the account itself, a
// credential or a sub-user.
struct ScopedLimits {
    QuotaScope scope;
    std::vector<LimitValue> limits;
    // For a sub-user scope: how many distinct sub-users of the account may hold quota in
    // one window of a limit (a customer chooses the names: this bounds the rows); 0: no bound.
    std::uint64_t max_scopes = 0;
};

struct LimitExceeded {
    RateLimit limit = RateLimit::messages_per_hour;
    std::uint64_t value = 0;
    SystemTime resets_at;  // the end of the window
    QuotaScope scope;      // whose limit: "" for the account's own
    // The window already has max_scopes other sub-users: `value` is max_scopes.
    bool too_many_scopes = false;
};

// How long rate_usage rows are kept after their window started, on the caller's clock.
// The longest window is a day, so a row this old can no longer be anyone's current window.
inline constexpr std::chrono::hours k_rate_usage_retention{48};
// Rows of minute windows, which are most of a sub-user's rows, go after an hour.
inline constexpr std::chrono::hours k_minute_rate_usage_retention{1};

class RateLimiter {
  public:
    struct Settings {
        std::uint64_t max_block = 100;  // most units leased at once
    };

    // The pool must outlive the limiter.
    RateLimiter(pg::Pool& pool, Settings settings);
    void reconfigure(Settings settings) { settings_ = settings; }

    // Takes n units of each limit for the account at time `now`, the one clock of the
    // limiter (windows and the hourly cleanup of old rows both come from it): nullopt when
    // every limit had room, or the first one that did not (units already taken for the
    // others are given back).
    // An Error when the database could not be asked (the caller answers 451 4.3.0).
    boost::asio::awaitable<Result<std::optional<LimitExceeded>>> acquire(
        std::int64_t account_id, std::vector<LimitValue> limits, std::uint64_t n, SystemTime now);
    // The same for the limits of several scopes of the account at once (the account's and
    // its credential's at MAIL): every one must have room, and the leases they need share
    // one transaction.
    boost::asio::awaitable<Result<std::optional<LimitExceeded>>> acquire(
        std::int64_t account_id, std::vector<ScopedLimits> scopes, std::uint64_t n, SystemTime now);

    // Units held locally, for tests.
    std::uint64_t held(std::int64_t account_id, RateLimit limit, SystemTime now) const;
    std::uint64_t held(std::int64_t account_id, const QuotaScope& scope, RateLimit limit,
                       SystemTime now) const;

  private:
    pg::Pool& pool_;
    Settings settings_;
    QuotaLedger ledger_;
    SystemTime last_cleanup_;
};

}  // namespace smarthost::policy
