#include "core/net/deadline_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>

namespace smarthost::net {
namespace {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

struct DeadlineStream::State {
    State(tcp::socket socket_in, bool keep_waiting_in)
        : executor(socket_in.get_executor()),
          socket(std::move(socket_in)),
          timer(executor),
          keep_waiting(keep_waiting_in) {}

    asio::any_io_executor executor;
    tcp::socket socket;  // moved into tls by start_tls()
    std::shared_ptr<asio::ssl::context> tls_context;
    std::optional<TlsStream> tls;
    // One wait at a time, for `expiry`; when it fires before `deadline` (moved later since)
    // it waits again. Moving a deadline later, the common case, costs no timer operation.
    asio::steady_timer timer;
    Clock::time_point deadline = Clock::time_point::max();  // of the pending operation
    Clock::time_point expiry = Clock::time_point::max();    // of the pending wait
    bool wait_pending = false;
    std::uint64_t wait_id = 0;  // a cancelled wait's handler is not the current one
    bool timed_out = false;
    // A server stream always has an operation pending until it closes, so its wait stays;
    // a client stream drops it when an operation ends (an idle pooled connection holds no
    // pending work that would keep the I/O thread from stopping).
    const bool keep_waiting;

    tcp::socket& lowest() { return tls ? tls->next_layer() : socket; }
};

DeadlineStream::DeadlineStream(tcp::socket socket)
    : state_(std::make_shared<State>(std::move(socket), true)) {}

DeadlineStream::DeadlineStream(const asio::any_io_executor& executor)
    : state_(std::make_shared<State>(tcp::socket(executor), false)) {}

namespace {

void wait_for_deadline(const std::shared_ptr<DeadlineStream::State>& state,
                       DeadlineStream::Clock::time_point until);

void on_wait_ended(const std::shared_ptr<DeadlineStream::State>& state, std::uint64_t id,
                   boost::system::error_code ec) {
    if (id != state->wait_id) return;  // replaced by a sooner wait
    state->wait_pending = false;
    if (ec || state->deadline == DeadlineStream::Clock::time_point::max()) return;
    if (DeadlineStream::Clock::now() < state->deadline) {
        wait_for_deadline(state, state->deadline);  // the deadline moved later meanwhile
        return;
    }
    state->timed_out = true;
    state->deadline = DeadlineStream::Clock::time_point::max();
    boost::system::error_code ignored;
    state->lowest().cancel(ignored);
}

void wait_for_deadline(const std::shared_ptr<DeadlineStream::State>& state,
                       DeadlineStream::Clock::time_point until) {
    state->wait_pending = true;
    state->expiry = until;
    const auto id = ++state->wait_id;
    state->timer.expires_at(until);  // cancels a wait still pending
    state->timer.async_wait(
        [state, id](boost::system::error_code ec) { on_wait_ended(state, id, ec); });
}

}  // namespace

DeadlineStream::~DeadlineStream() {
    error_code ignored;
    state_->lowest().close(ignored);
    state_->timer.cancel();
}

DeadlineStream::tcp::socket& DeadlineStream::socket() {
    return state_->lowest();
}

void DeadlineStream::arm(Clock::time_point deadline) {
    auto& state = *state_;
    state.timed_out = false;
    state.deadline = deadline;
    if (deadline == Clock::time_point::max()) return;
    if (!state.wait_pending || deadline < state.expiry) wait_for_deadline(state_, deadline);
}

DeadlineStream::error_code DeadlineStream::disarm(error_code ended_with) {
    auto& state = *state_;
    state.deadline = Clock::time_point::max();
    if (!state.keep_waiting && state.wait_pending) {
        ++state.wait_id;
        state.wait_pending = false;
        state.timer.cancel();
    }
    if (ended_with && state.timed_out) return asio::error::timed_out;
    return ended_with;
}

asio::awaitable<DeadlineStream::error_code> DeadlineStream::connect(tcp::endpoint peer,
                                                                    Clock::time_point deadline) {
    arm(deadline);
    auto [ec] = co_await state_->socket.async_connect(peer, use_tuple);
    co_return disarm(ec);
}

DeadlineStream::TlsStream& DeadlineStream::start_tls(std::shared_ptr<asio::ssl::context> context) {
    auto& state = *state_;
    state.tls_context = std::move(context);
    state.tls.emplace(std::move(state.socket), *state.tls_context);
    state.socket = tcp::socket(state.executor);
    return *state.tls;
}

asio::awaitable<DeadlineStream::error_code> DeadlineStream::handshake(
    asio::ssl::stream_base::handshake_type side, Clock::time_point deadline) {
    arm(deadline);
    auto [ec] = co_await state_->tls->async_handshake(side, use_tuple);
    co_return disarm(ec);
}

asio::awaitable<std::tuple<DeadlineStream::error_code, std::size_t>> DeadlineStream::read_some(
    asio::mutable_buffer into, Clock::time_point deadline) {
    arm(deadline);
    auto& state = *state_;
    // Plain statements around co_await: g++ 12 miscompiles co_await inside ?:.
    std::tuple<error_code, std::size_t> outcome;
    if (state.tls) {
        outcome = co_await state.tls->async_read_some(into, use_tuple);
    } else {
        outcome = co_await state.socket.async_read_some(into, use_tuple);
    }
    std::get<0>(outcome) = disarm(std::get<0>(outcome));
    co_return outcome;
}

asio::awaitable<DeadlineStream::error_code> DeadlineStream::write(asio::const_buffer bytes,
                                                                  Clock::time_point deadline) {
    arm(deadline);
    auto& state = *state_;
    std::tuple<error_code, std::size_t> outcome;
    if (state.tls) {
        outcome = co_await asio::async_write(*state.tls, bytes, use_tuple);
    } else {
        outcome = co_await asio::async_write(state.socket, bytes, use_tuple);
    }
    co_return disarm(std::get<0>(outcome));
}

bool DeadlineStream::tls_active() const {
    return state_->tls.has_value();
}

SSL* DeadlineStream::tls_handle() {
    return state_->tls ? state_->tls->native_handle() : nullptr;
}

std::string DeadlineStream::tls_version() {
    return state_->tls ? SSL_get_version(state_->tls->native_handle()) : std::string();
}

std::string DeadlineStream::tls_cipher() {
    return state_->tls ? SSL_get_cipher_name(state_->tls->native_handle()) : std::string();
}

void DeadlineStream::cancel() {
    error_code ignored;
    state_->lowest().cancel(ignored);
}

void DeadlineStream::close() {
    auto& state = *state_;
    error_code ignored;
    state.lowest().close(ignored);
    state.deadline = Clock::time_point::max();
    ++state.wait_id;
    state.wait_pending = false;
    state.timer.cancel();
    state.tls.reset();
    state.tls_context.reset();
    state.socket = tcp::socket(state.executor);
    state.timed_out = false;
}

}  // namespace smarthost::net
