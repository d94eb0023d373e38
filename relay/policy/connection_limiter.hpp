#pragma once
// Per-account concurrent connection limits that hold across replicas (DESIGN.md contract
// 5, docs/policy.md "Concurrent connections"). Each process counts its own sessions per
// account exactly; about once an interval it publishes the counts that changed to
// PostgreSQL (connection_counts, with a heartbeat in connection_replicas) and, in the
// same round trip, reads the sums of the other live replicas. Admitting a session is
// then arithmetic on those numbers: no database round trip per connection.
//
// Runs on one executor, like the sessions that call it; not thread-safe.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "relay/policy/connection_counts.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

class RejectionLog;

// One session counted for one account, released when the slot is destroyed, so every
// way a session ends (QUIT, timeout, reset, exception) gives the count back. An empty
// slot (an account without a limit) counts nothing.
class ConnectionSlot {
  public:
    ConnectionSlot() = default;
    ConnectionSlot(std::shared_ptr<ConnectionCounts> counts, std::int64_t account_id)
        : counts_(std::move(counts)), account_id_(account_id) {}
    ConnectionSlot(ConnectionSlot&& other) noexcept { *this = std::move(other); }
    ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;
    ~ConnectionSlot() { release(); }

    std::int64_t account_id() const { return account_id_; }

  private:
    void release();
    std::shared_ptr<ConnectionCounts> counts_;  // shared: a slot may outlive the limiter
    std::int64_t account_id_ = 0;
};

class ConnectionLimiter {
  public:
    struct Settings {
        // How often counts are published and the others' read. Rows of a replica silent
        // for three intervals are ignored (it crashed or lost the database).
        std::chrono::milliseconds interval{1000};
    };

    // The pool and the log must outlive the limiter.
    ConnectionLimiter(boost::asio::any_io_executor executor, pg::Pool& pool,
                      RejectionLog& rejections, Settings settings);
    ~ConnectionLimiter();
    ConnectionLimiter(const ConnectionLimiter&) = delete;
    ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

    // Publishes and refreshes every interval from now on.
    void start();
    // Stops publishing and deletes this replica's rows (waiting at most two seconds for
    // the database), then calls `done`. Sessions still open are no longer seen by others.
    void stop(std::function<void()> done);

    // A slot for one more session of the account, or nullopt when the account has
    // `limit` sessions open already across the replicas (the refusal is counted in
    // smarthost_connection_limit_hits_total and recorded in rejections as
    // max_connections). limit 0: no limit, an empty slot.
    std::optional<ConnectionSlot> admit(std::int64_t account_id, std::string_view account_name,
                                        std::uint64_t limit);

    // One publication and refresh now: what the periodic task does each interval.
    boost::asio::awaitable<Status> publish();

    const ConnectionCounts& counts() const { return *counts_; }
    const std::string& replica() const { return replica_; }

  private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> withdraw(std::function<void()> done);

    struct Runtime;
    boost::asio::any_io_executor executor_;
    pg::Pool& pool_;
    RejectionLog& rejections_;
    Settings settings_;
    std::string replica_;  // a fresh uuid per process
    std::shared_ptr<ConnectionCounts> counts_;
    std::shared_ptr<Runtime> runtime_;
    bool publish_all_ = true;  // the first publication, and after a failed one
    std::chrono::steady_clock::time_point purged_{};
};

}  // namespace smarthost::policy
