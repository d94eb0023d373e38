#include "relay/ingress/session_channel.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

#include "relay/ingress/drain.hpp"

namespace smarthost::ingress {
namespace {

namespace asio = boost::asio;

// A reply must leave within this time, or the client is not reading.
constexpr std::chrono::seconds k_write_timeout{60};
constexpr std::chrono::seconds k_tls_handshake_timeout{30};

}  // namespace

SessionChannel::SessionChannel(asio::ip::tcp::socket socket, Drain& drain)
    : stream_(std::move(socket)), drain_(drain) {}

// Between transactions from the start of the drain, in the middle of one once the grace
// is over.
bool SessionChannel::shutdown_due(Waiting what) const {
    if (what == Waiting::nothing) return false;
    switch (drain_.phase()) {
        case Drain::Phase::serving:
            return false;
        case Drain::Phase::draining:
            return what == Waiting::command && !in_transaction_();
        case Drain::Phase::closing:
            return true;
    }
    return false;
}

void SessionChannel::on_drain_notice() {
    if (!shutdown_due(waiting_)) return;
    shutdown_told_ = true;
    stream_.cancel();
}

asio::awaitable<bool> SessionChannel::flush() {
    if (outbox_.empty()) co_return true;
    const auto ec = co_await stream_.write(asio::buffer(outbox_), Clock::now() + k_write_timeout);
    outbox_.clear();
    if (ec) write_failure_ = ec == asio::error::timed_out ? "write timeout" : "write failed";
    co_return !ec;
}

asio::awaitable<SessionChannel::ReadEnd> SessionChannel::read_more(Clock::time_point deadline,
                                                                   Waiting what) {
    if (shutdown_told_ || shutdown_due(what)) {
        shutdown_told_ = true;
        co_return ReadEnd::shutdown;
    }
    if (Clock::now() >= deadline) co_return ReadEnd::timed_out;
    waiting_ = what;
    const auto [ec, n] = co_await stream_.read_some(asio::buffer(read_buffer_), deadline);
    waiting_ = Waiting::nothing;
    // Bytes that arrived are kept even when a shutdown notice came meanwhile: the next
    // read_more() ends the session, after what was received is answered.
    if (ec && shutdown_told_) co_return ReadEnd::shutdown;
    if (ec == asio::error::timed_out) co_return ReadEnd::timed_out;
    if (ec) co_return ReadEnd::client_closed;
    inbox_.append(read_buffer_.data(), n);
    co_return ReadEnd::more;
}

asio::awaitable<SessionChannel::ReadEnd> SessionChannel::read_raw(std::size_t at_most,
                                                                  Clock::time_point deadline,
                                                                  std::string& into) {
    const auto wanted = std::min(at_most, read_buffer_.size());
    const auto [ec, n] =
        co_await stream_.read_some(asio::buffer(read_buffer_.data(), wanted), deadline);
    if (ec == asio::error::timed_out) co_return ReadEnd::timed_out;
    if (ec) co_return ReadEnd::client_closed;
    into.append(read_buffer_.data(), n);
    co_return ReadEnd::more;
}

asio::awaitable<std::string> SessionChannel::start_tls(std::shared_ptr<asio::ssl::context> c) {
    stream_.start_tls(std::move(c));
    const auto ec = co_await stream_.handshake(asio::ssl::stream_base::server,
                                               Clock::now() + k_tls_handshake_timeout);
    co_return ec ? "TLS handshake failed: " + ec.message() : std::string();
}

void SessionChannel::close() {
    stream_.close();
}

}  // namespace smarthost::ingress
