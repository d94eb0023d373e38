#pragma once
// One delivery report per message even when its recipients span several destination
// domains, and so several batches (docs/delivery.md "Bounces"). Each batch stores its
// recipients' report lines with their settlements (queue::Settlement::pending_report);
// once none of the message's recipients is still being tried (in_flight, or queued and
// never tried), the batch that finished last sends one report with every stored line and
// clears them in the same transaction: whichever of two racing batches clears them first
// sends it, the other's transaction rolls back, so it goes out exactly once. The sweep
// sends what waited too long: a batch that crashed after recording, or a recipient that
// is not tried soon (a deep queue, a hold).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <string>

#include "core/result.hpp"
#include "relay/delivery/dsn.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::delivery {

class PendingReports {
  public:
    struct Settings {
        DsnSettings dsn;
        std::chrono::seconds queue_lifetime{5 * 24 * 3600};  // delayed lines' Will-Retry-Until
        // Lines that waited this long (by the database's clock, which stamps
        // recipients.updated_at) are sent by the sweep whatever the other recipients do.
        std::chrono::seconds sweep_after{120};
    };

    // The pool must outlive this; all runs on the pool's executor.
    PendingReports(pg::Pool& pool, Settings settings);

    // Sends message `message_id`'s report (32 hex digits) unless one of its recipients is
    // still being tried. True when its lines were sent (or there were none left).
    boost::asio::awaitable<Result<bool>> send_if_complete(std::string message_id, TimePoint now);

    // Sends the reports whose lines waited sweep_after or longer, at most `limit`
    // messages; returns how many it sent.
    boost::asio::awaitable<Result<std::size_t>> sweep(TimePoint now, std::size_t limit = 100);

  private:
    boost::asio::awaitable<Result<bool>> send(std::string message_id, bool wait_for_others,
                                              TimePoint now);

    pg::Pool& pool_;
    Settings settings_;
};

}  // namespace smarthost::delivery
