#pragma once
// Retention (docs/delivery.md "Purge"): what the delivery role deletes every
// purge_interval_seconds, in batches, by any number of replicas at once. Message bodies
// once every recipient of theirs has been final for the body period; events, refusals
// (`rejections`) and suspicious logins (`auth_suspicious_logins`) once older than theirs;
// cached MTA-STS policies (`mta_sts_policies`) once expired.
//
// Not here: `auth_failures` and `auth_lockouts` are the auth throttle's counting state,
// and relay/policy/auth_throttle.cpp alone deletes them (past its failure window, and
// when a lock consumes a key's failures). One owner per table.
//
// One clock: every cut-off is the caller's `now` minus a period, never the database's
// now(), so a test pinned to a date decides the same way whatever the calendar says.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>

#include "core/result.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::queue {

struct RetentionPeriods {
    std::chrono::seconds bodies{24 * 3600};  // after the last recipient became final
    std::chrono::seconds events{30 * 24 * 3600};
    std::chrono::seconds rejections{30 * 24 * 3600};
    std::chrono::seconds suspicious_logins{90 * 24 * 3600};
};

struct PurgeReport {
    std::size_t bodies_deleted = 0;
    std::size_t events_deleted = 0;
    std::size_t rejections_deleted = 0;
    std::size_t suspicious_logins_deleted = 0;
    std::size_t mta_sts_policies_deleted = 0;  // cached MTA-STS policies past expires_at

    // Some kind filled its batch: more may be waiting, call again.
    bool more(std::size_t limit) const;
    bool any() const { return more(1); }
};

// One transaction deleting, for each kind, at most `limit` of the oldest rows past its
// period at `now` (bodies: set to NULL, body_deleted_at = now). Rows another replica is
// purging at the same moment are skipped, not waited for.
boost::asio::awaitable<Result<PurgeReport>> purge(pg::Pool& pool, RetentionPeriods periods,
                                                  std::chrono::system_clock::time_point now,
                                                  std::size_t limit = 1000);

}  // namespace smarthost::queue
