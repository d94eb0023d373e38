#pragma once
// The one transport of both directions of SMTP: a TCP connection that may be upgraded to
// TLS (STARTTLS, or implicit TLS from the first byte), where every operation carries its
// own deadline. The idea of Beast's tcp_stream: a timer per connection cancels the pending
// operation when its deadline passes, and the operation then ends with
// asio::error::timed_out rather than a generic "operation aborted".
//
// One thread drives a stream (the process runs its I/O on one thread); the caller keeps
// the stream alive while an operation of it is pending. The timer waits for the nearest
// deadline and, when an operation's deadline only moved later (a session's next read),
// waits again from there: no timer operation per read or write on a busy connection.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>
#include <tuple>

namespace smarthost::net {

class DeadlineStream {
  public:
    using Clock = std::chrono::steady_clock;
    using tcp = boost::asio::ip::tcp;
    using TlsStream = boost::asio::ssl::stream<tcp::socket>;
    using error_code = boost::system::error_code;

    // An accepted connection (the server side).
    explicit DeadlineStream(tcp::socket socket);
    // Not yet connected (the client side): open socket() and connect().
    explicit DeadlineStream(const boost::asio::any_io_executor& executor);
    ~DeadlineStream();
    DeadlineStream(const DeadlineStream&) = delete;
    DeadlineStream& operator=(const DeadlineStream&) = delete;

    // The TCP layer, plain or under TLS: open, bind, endpoints, available(), options.
    tcp::socket& socket();

    boost::asio::awaitable<error_code> connect(tcp::endpoint peer, Clock::time_point deadline);

    // Wraps the connection in TLS with `context` (kept alive here), ready for handshake().
    // The returned stream may be configured first (SNI, verification callback).
    TlsStream& start_tls(std::shared_ptr<boost::asio::ssl::context> context);
    boost::asio::awaitable<error_code> handshake(boost::asio::ssl::stream_base::handshake_type side,
                                                 Clock::time_point deadline);

    // Some bytes (at most the buffer's size), from TLS once start_tls() was called.
    boost::asio::awaitable<std::tuple<error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer into, Clock::time_point deadline);
    // All of `bytes`.
    boost::asio::awaitable<error_code> write(boost::asio::const_buffer bytes,
                                             Clock::time_point deadline);

    bool tls_active() const;
    SSL* tls_handle();          // nullptr without TLS
    std::string tls_version();  // empty without TLS
    std::string tls_cipher();   // empty without TLS

    // Ends the pending operation with asio::error::operation_aborted (a shutdown notice).
    void cancel();
    // Closes the connection and starts over with a fresh, unopened plain socket.
    void close();

    struct State;  // shared with a pending deadline's handler

  private:
    std::shared_ptr<State> state_;

    void arm(Clock::time_point deadline);
    // The operation's own error, or timed_out when the deadline ended it.
    error_code disarm(error_code ended_with);
};

}  // namespace smarthost::net
