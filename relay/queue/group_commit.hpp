#pragma once
// Durable enqueue with group commit: concurrent accepted messages share one transaction
// (DESIGN.md "Performance design"), so fsyncs do not bound throughput. enqueue()
// completes only after the message and all its recipients are committed (contract 1).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/pg/pool.hpp"
#include "core/result.hpp"
#include "relay/queue/new_message.hpp"
#include "relay/queue/notify.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::queue {

// The statement that stores `message`, its recipients and its 'accepted' event. With
// `only_if_final` it stores nothing unless each of those recipients is final (bounced,
// expired, cancelled, or delivered), or deferred with its delay warning recorded, at that
// point of the transaction: how a delivery report joins the outcomes it reports.
// The statement borrows message.body (pg::borrowed_bytes): keep the message until it ran.
pg::Statement insert_message_statement(const NewMessage& message,
                                       const std::vector<std::int64_t>* only_if_final = nullptr);

class GroupCommitter {
  public:
    struct Settings {
        std::size_t max_batch_messages = 64;
        std::size_t max_batch_bytes = 64 * 1024 * 1024;
        std::chrono::microseconds max_wait{2000};  // how long the first message waits for company
        // Transactions in flight at once; arrivals meanwhile form the next batch.
        // Keep it below the pool size so other queries still get a connection.
        std::size_t max_batches_in_flight = 2;
    };
    // The pool must outlive the committer. Like the pool, a committer and all its callers
    // run on one executor (thread or strand); batches run on the caller's executor.
    GroupCommitter(pg::Pool& pool, Settings settings);
    ~GroupCommitter();

    // Completes once the message is committed; an Error with unavailable=true when
    // PostgreSQL could not be reached (the caller answers 451 4.3.0).
    boost::asio::awaitable<Status> enqueue(NewMessage message);

    // No message waiting or being committed: what shutdown waits for before it exits.
    bool idle() const;

    // Batch sizes seen so far, for metrics and tests.
    std::uint64_t batches_committed() const;
    std::uint64_t messages_committed() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::queue
