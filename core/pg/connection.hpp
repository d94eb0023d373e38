#pragma once
// One libpq connection in non-blocking mode, its socket (PQsocket) watched by Asio: connect,
// send, flush, wait readable or writable, consume input, read results, without ever
// blocking the I/O thread. The only copy of that loop in smarthost: Pool hands these out
// for statements, NotificationListener keeps one for LISTEN. Internal to core/pg.
//
// Threading: the connection and its caller run on one executor. Any I/O failure, missed
// deadline or cancel() marks the connection broken; its owner then discards it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/pg/statement.hpp"
#include "core/result.hpp"

struct pg_conn;  // libpq's PGconn

namespace smarthost::pg {

class Connection {
  public:
    using Clock = std::chrono::steady_clock;
    // For a wait that only the server's answer or cancel() ends (a LISTEN connection).
    static constexpr Clock::time_point no_deadline = Clock::time_point::max();

    explicit Connection(boost::asio::any_io_executor executor);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool broken() const;
    void mark_broken() { broken_ = true; }
    // Whether a pool may keep the connection: libpq never shrinks its output buffer, so
    // one that sent a large statement (a message body) would hold that much memory for as
    // long as it lives; it is closed instead, and the memory returned (docs/security.md).
    // Its input buffer, grown by large rows read, is kept: reconnecting after every body
    // fetched halved the delivery rate of large messages (bench/RESULTS.md "Body memory").
    bool reusable() const { return !broken() && largest_sent_ <= k_largest_kept_send_bytes; }

    // `application_name` is what pg_stat_activity shows for the connection.
    boost::asio::awaitable<Status> connect(const std::string& url,
                                           std::string_view application_name,
                                           Clock::time_point deadline);

    // True when an idle connection can take a request: not closed by the server while it
    // sat unused (restart, pg_terminate_backend, idle timeout).
    bool still_open();

    boost::asio::awaitable<Result<Rows>> execute(const std::string& sql,
                                                 const std::vector<Param>& params,
                                                 ResultFormat format, Clock::time_point deadline);

    // BEGIN, the statements, COMMIT in one round trip (pipeline mode); one Rows per
    // statement. Any failure rolls the whole batch back.
    boost::asio::awaitable<Result<std::vector<Rows>>> transaction(
        const std::vector<Statement>& statements, Clock::time_point deadline);

    // Waits, with no deadline, until notifications for a LISTEN of this session arrive;
    // returns how many came together. An error once the connection is lost or cancelled.
    boost::asio::awaitable<Result<std::size_t>> wait_for_notifications();

    // Ends the wait in progress, and any later one, with an error; the connection is broken.
    void cancel();

    // libpq's message about the last failure on this connection (several lines possible);
    // null before a connection was allocated.
    const char* libpq_error() const;

  private:
    enum class Ready { readable, writable, timed_out, failed };

    Error connection_error(std::string_view what);
    Error timed_out();
    bool send(const std::string& sql, const std::vector<Param>& params,
              const std::string* prepared_name = nullptr, ResultFormat format = ResultFormat::text);
    boost::asio::awaitable<Status> flush(Clock::time_point deadline);
    boost::asio::awaitable<Status> await_result(Clock::time_point deadline);
    boost::asio::awaitable<Ready> wait(bool read, bool write, Clock::time_point deadline);
    bool consume_input();
    void collect_notifications();
    bool attach_socket();
    void detach_socket();

    pg_conn* conn_ = nullptr;
    std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
    std::uint64_t prepared_count_ = 0;
    boost::asio::posix::stream_descriptor socket_;
    boost::asio::steady_timer timer_;
    bool broken_ = false;
    bool cancelled_ = false;
    std::size_t largest_sent_ = 0;   // the parameters of the largest statement sent
    std::size_t notifications_ = 0;  // read from the server, not yet handed out

    static constexpr std::size_t k_flush_after_bytes = 256 * 1024;
    static constexpr std::size_t k_largest_kept_send_bytes = 1024 * 1024;
};

}  // namespace smarthost::pg
