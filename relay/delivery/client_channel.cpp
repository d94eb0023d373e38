#include "relay/delivery/client_channel.hpp"

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <tuple>
#include <utility>

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using Clock = net::DeadlineStream::Clock;

smtp::Reply failed_io(const boost::system::error_code& ec, Stage stage) {
    return ec == asio::error::timed_out ? local_reply::timed_out(stage)
                                        : local_reply::connection_lost(stage);
}

}  // namespace

ClientChannel::ClientChannel(const asio::any_io_executor& executor) : stream_(executor) {}

void ClientChannel::close() {
    connected_ = false;
    stream_.close();
    inbox_.clear();
    reader_ = ReplyReader();
}

asio::awaitable<bool> ClientChannel::write(std::string bytes, Stage stage,
                                           std::chrono::milliseconds timeout) {
    if (!connected_) {
        last_local_failure_ = local_reply::connection_lost(stage);
        co_return false;
    }
    const auto ec =
        co_await stream_.write(asio::buffer(bytes.data(), bytes.size()), Clock::now() + timeout);
    if (ec) {
        last_local_failure_ = failed_io(ec, stage);
        close();
    }
    co_return !ec;
}

asio::awaitable<std::optional<smtp::Reply>> ClientChannel::read_reply(
    Stage stage, std::chrono::milliseconds timeout) {
    for (;;) {
        if (auto reply = reader_.next(inbox_)) co_return reply;
        if (reader_.malformed() || !connected_) {
            last_local_failure_ = reader_.malformed() ? local_reply::malformed_reply()
                                                      : local_reply::connection_lost(stage);
            close();
            co_return std::nullopt;
        }
        const auto [ec, n] =
            co_await stream_.read_some(asio::buffer(read_buffer_), Clock::now() + timeout);
        if (ec) {
            last_local_failure_ = failed_io(ec, stage);
            close();
            co_return std::nullopt;
        }
        inbox_.append(read_buffer_.data(), n);
    }
}

asio::awaitable<std::optional<smtp::Reply>> ClientChannel::command(
    std::string line, Stage stage, std::chrono::milliseconds timeout) {
    const bool sent = co_await write(std::move(line), stage, timeout);
    if (!sent) co_return std::nullopt;
    auto reply = co_await read_reply(stage, timeout);
    co_return reply;
}

}  // namespace smarthost::delivery
