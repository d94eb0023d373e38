#pragma once
// The command-and-reply exchange of one outbound SMTP connection: writes commands and reads
// whole replies over core/net's DeadlineStream, each under the timeout of its stage. A
// failed read or write closes the connection and leaves why in last_local_failure(), a
// reply made up locally (451 4.4.2 timed out or lost, 451 4.5.0 malformed).

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "core/net/deadline_stream.hpp"
#include "relay/delivery/client_machine.hpp"

namespace smarthost::delivery {

class ClientChannel {
  public:
    explicit ClientChannel(const boost::asio::any_io_executor& executor);

    // The transport: open/bind/connect before mark_connected(), STARTTLS, TLS facts.
    net::DeadlineStream& stream() { return stream_; }
    // The TCP connection is up; commands may be sent.
    void mark_connected() { connected_ = true; }
    bool connected() const { return connected_; }

    // Bytes the server sent before a TLS handshake must not be read as if protected (RFC
    // 3207 section 4.2; the client side of CVE-2011-0411).
    void discard_input() { inbox_.clear(); }

    // Argument strings are owned by the coroutine frame: a view of a caller's temporary is
    // not safe across a suspension with g++ 12.
    boost::asio::awaitable<bool> write(std::string bytes, Stage stage,
                                       std::chrono::milliseconds timeout);
    // The next whole reply; each read of bytes has `timeout`.
    boost::asio::awaitable<std::optional<smtp::Reply>> read_reply(
        Stage stage, std::chrono::milliseconds timeout);
    // A command and its reply; nullopt when the connection failed.
    boost::asio::awaitable<std::optional<smtp::Reply>> command(std::string line, Stage stage,
                                                               std::chrono::milliseconds timeout);

    // Why the last read or write failed.
    const smtp::Reply& last_local_failure() const { return last_local_failure_; }

    // Closes the connection without QUIT; the stream is ready for another connect.
    void close();

  private:
    net::DeadlineStream stream_;
    bool connected_ = false;
    std::string inbox_;
    std::array<char, 16 * 1024> read_buffer_{};  // one per connection, not per reply
    ReplyReader reader_;
    smtp::Reply last_local_failure_;
};

}  // namespace smarthost::delivery
