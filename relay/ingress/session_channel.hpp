#pragma once
// A session's side of its connection: the stream with a deadline on every read and write,
// the bytes read and not yet consumed, the replies not yet sent, and the shutdown's
// notices (relay/ingress/drain.hpp), which end a read the drain says should not wait.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/net/deadline_stream.hpp"
#include "relay/smtp/reply.hpp"

namespace smarthost::ingress {

class Drain;

class SessionChannel {
  public:
    using Clock = std::chrono::steady_clock;
    // What the session waits for from its client, for the shutdown notices.
    enum class Waiting { nothing, command, data };
    enum class ReadEnd { more, client_closed, timed_out, shutdown };

    // `in_transaction` tells the drain whether a mail transaction is open.
    SessionChannel(boost::asio::ip::tcp::socket socket, Drain& drain);

    void set_transaction_probe(std::function<bool()> in_transaction) {
        in_transaction_ = std::move(in_transaction);
    }

    net::DeadlineStream& stream() { return stream_; }
    // Bytes received and not consumed yet.
    std::string& inbox() { return inbox_; }
    bool shutdown_told() const { return shutdown_told_; }

    void send(const smtp::Reply& reply) { outbox_ += reply.wire(); }
    // Writes what send() queued; false when the client did not take it in time or the
    // connection failed (`write_failure()` says which).
    boost::asio::awaitable<bool> flush();
    const char* write_failure() const { return write_failure_; }

    // Reads more into inbox() by `deadline`, unless the shutdown ends the session first.
    boost::asio::awaitable<ReadEnd> read_more(Clock::time_point deadline, Waiting what);
    // Exactly what the buffer holds at most, from the TCP layer (the PROXY header).
    boost::asio::awaitable<ReadEnd> read_raw(std::size_t at_most, Clock::time_point deadline,
                                             std::string& into);

    // The server side of TLS, implicit or after STARTTLS; the error when it failed.
    boost::asio::awaitable<std::string> start_tls(std::shared_ptr<boost::asio::ssl::context> c);

    // A client that speaks before the greeting (bytes waiting in the socket).
    bool client_spoke() {
        boost::system::error_code ec;
        return stream_.socket().available(ec) > 0 && !ec;
    }

    // The drain's phase changed: ends the pending read when the session should stop.
    void on_drain_notice();

    void close();

  private:
    static constexpr std::size_t k_read_chunk = 64 * 1024;

    net::DeadlineStream stream_;
    Drain& drain_;
    std::function<bool()> in_transaction_ = [] { return false; };
    std::string inbox_;
    std::string outbox_;
    std::array<char, k_read_chunk> read_buffer_{};
    Waiting waiting_ = Waiting::nothing;
    bool shutdown_told_ = false;  // a read was stopped (or not begun) for the shutdown
    const char* write_failure_ = "";

    bool shutdown_due(Waiting what) const;
};

}  // namespace smarthost::ingress
