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
#include "relay/smtp/envelope.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::queue {

struct NewMessage {
    std::string id;  // new_message_id()
    std::int64_t account_id = 0;
    std::optional<std::int64_t> credential_id;
    std::string client_ip;
    std::string client_helo;
    std::string tls_version;  // empty without TLS
    smtp::Envelope envelope;
    std::string body;               // the stored message, Received: header included
    std::string header_message_id;  // Message-ID: value if the message has one
    // Stored in the same transaction, so neither exists without the other: the delivery
    // reports for recipients bounced at submission (suppressed addresses in bounce mode).
    std::vector<NewMessage> reports;
};

// A new time-ordered message id (UUID version 7), as 32 lower-case hex digits.
std::string new_message_id();

// The statement that stores `message`, its recipients and its 'accepted' event. With
// `only_if_final` it stores nothing unless each of those recipients is bounced or expired
// at that point of the transaction: how a delivery report joins the outcomes it reports.
// The statement borrows message.body (pg::borrowed_bytes): keep the message until it ran.
pg::Statement insert_message_statement(const NewMessage& message,
                                       const std::vector<std::int64_t>* only_if_final = nullptr);
// Wakes the delivery schedulers (they LISTEN on the queue channel) when it commits.
pg::Statement notify_queue_statement();

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
