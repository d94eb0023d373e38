#pragma once
// The delivery role (DESIGN.md "delivery scheduler"): claims due recipients in batches
// grouped by destination domain, runs each domain's attempt within the concurrency
// limits, records the outcomes and queues the bounces. Woken by LISTEN/NOTIFY when mail
// is committed, and by a timer for deferred mail. docs/delivery.md tells the whole story.
//
// Threading: like pg::Pool, everything runs on the one executor it is given.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/config.hpp"

namespace smarthost::pg {
class Pool;
}
namespace smarthost::queue {
class GroupCommitter;
}
namespace smarthost::dns {
class Resolver;
}

namespace smarthost::delivery {

class DeliveryService {
  public:
    struct Settings {
        std::string hostname;      // EHLO name, Reporting-MTA of bounces
        std::string database_url;  // for the LISTEN connection
        DeliveryConfig delivery;
    };

    // The pool, committer and resolver must outlive the service. Throws
    // std::invalid_argument on a setting it cannot use (a bad network or source address).
    DeliveryService(boost::asio::any_io_executor executor, pg::Pool& pool,
                    queue::GroupCommitter& committer, dns::Resolver& resolver, Settings settings);
    ~DeliveryService();
    DeliveryService(const DeliveryService&) = delete;
    DeliveryService& operator=(const DeliveryService&) = delete;

    void start();
    // Runs before each claim. For tests: a hook that throws shows the claim loop being
    // restarted (spawn_supervised) rather than ended in silence.
    void set_before_claim(std::function<void()> hook);
    // Stops claiming. Batches in progress get the shutdown grace to finish; what is still
    // leased then is released for other workers. `done` runs once that is over.
    void stop(std::function<void()> done);

    // The lease owner name of this process: "hostname:pid:random".
    const std::string& owner() const;
    std::size_t active_batches() const;
    // Mail looked for because of a notification, for tests of the wake-up.
    std::size_t wakeups() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::delivery
