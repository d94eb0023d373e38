#pragma once
// Message rates of destination groups across every replica (docs/delivery.md "Traffic
// shaping per destination"): the account rate limits' lease design (relay/policy/
// rate_limiter.hpp) applied to groups. A process sends a group's messages from quota it
// leased in blocks from PostgreSQL (table destination_usage, one row per group, limit and
// fixed UTC window), so the common case costs no database round trip; the database never
// grants more than the limit in all, so the replicas together never send more than the
// limit's quota in a window. Runs on one executor.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "relay/policy/rate_windows.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::delivery {

using policy::SystemTime;

// A group's limits now (0: none), after its push-back throttle.
struct GroupRates {
    std::uint64_t per_minute = 0;
    std::uint64_t per_hour = 0;
};

// What may be sent now: the first `granted` of the messages wanted; when that is fewer,
// the rest may try again at `retry_at`, the end of the window that ran out.
struct RateGrant {
    std::size_t granted = 0;
    SystemTime retry_at;
};

// ---- pure ---------------------------------------------------------------------------

// A limit scaled by the push-back throttle (0 < throttle <= 1): never below 1 unless it is
// 0 (no limit).
std::uint64_t throttled(std::uint64_t limit, double throttle);

// The quota this process holds for one limit in its current window.
struct LimitHolding {
    std::uint64_t held = 0;
    SystemTime window_end;
};
// How many of `wanted` messages the holdings allow (the smallest), and when the rest may
// go: the latest end among the windows holding just that smallest amount (those that bind;
// a window with some quota left lets more go once the others reset).
RateGrant grant_from(const std::vector<LimitHolding>& holdings, std::size_t wanted, SystemTime now);

// ---- with the database --------------------------------------------------------------

class DestinationLeases {
  public:
    // The pool must outlive this. `max_block`: the most units leased at once.
    explicit DestinationLeases(pg::Pool& pool, std::uint64_t max_block = 100);

    // Takes up to `wanted` messages of `group`'s quota at `now` (the one clock of every
    // window and cleanup cut-off), leasing more from PostgreSQL when the local blocks do not
    // cover them. Quota leased and not used now stays for the group's next batch in the
    // same window. An Error when the database could not be asked.
    boost::asio::awaitable<Result<RateGrant>> take(std::string group, GroupRates rates,
                                                   std::size_t wanted, SystemTime now);

    // Units of a limit this process holds now, for tests.
    std::uint64_t held(const std::string& group, policy::RateLimit limit, SystemTime now) const;

  private:
    pg::Pool& pool_;
    std::uint64_t max_block_;
    policy::QuotaLedger ledger_;  // keyed by (0, group name, limit)
    SystemTime last_cleanup_;
};

}  // namespace smarthost::delivery
