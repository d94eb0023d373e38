#include "core/net/deadline_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>

namespace smarthost::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = DeadlineStream::Clock;
using namespace std::chrono_literals;

// A connected pair on loopback: `server` wrapped in the stream under test, `client` plain.
struct Pair {
    asio::io_context io;
    tcp::socket client{io};
    std::unique_ptr<DeadlineStream> server;

    Pair() {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acceptor.local_endpoint());
        server = std::make_unique<DeadlineStream>(acceptor.accept());
    }

    // Runs `body` to its end on the pair's io_context.
    template <class Body>
    void run(Body body) {
        bool finished = false;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                co_await body();
                server->close();  // a server stream's deadline timer waits until then
                finished = true;
            },
            [](std::exception_ptr failure) {
                if (failure) std::rethrow_exception(failure);
            });
        io.run();
        ASSERT_TRUE(finished);
    }
};

TEST(DeadlineStream, AReadPastItsDeadlineEndsWithTimedOut) {
    Pair pair;
    std::tuple<boost::system::error_code, std::size_t> outcome;
    const auto started = Clock::now();
    pair.run([&]() -> asio::awaitable<void> {
        std::array<char, 16> buffer{};
        outcome = co_await pair.server->read_some(asio::buffer(buffer), Clock::now() + 50ms);
    });
    EXPECT_EQ(std::get<0>(outcome), asio::error::timed_out);
    EXPECT_GE(Clock::now() - started, 50ms);
}

TEST(DeadlineStream, BytesThatArriveInTimeAreReadAndTheDeadlineDoesNotCutTheNextRead) {
    Pair pair;
    asio::write(pair.client, asio::buffer(std::string("EHLO x\r\n")));
    std::string received;
    boost::system::error_code second;
    pair.run([&]() -> asio::awaitable<void> {
        std::array<char, 64> buffer{};
        auto [ec, n] = co_await pair.server->read_some(asio::buffer(buffer), Clock::now() + 30ms);
        if (!ec) received.assign(buffer.data(), n);
        // The first read's deadline passes during this one, which has a later one.
        asio::steady_timer later(pair.io, 60ms);
        asio::co_spawn(
            pair.io,
            [&]() -> asio::awaitable<void> {
                co_await later.async_wait(asio::use_awaitable);
                asio::write(pair.client, asio::buffer(std::string("QUIT\r\n")));
            },
            asio::detached);
        auto [ec2, n2] = co_await pair.server->read_some(asio::buffer(buffer), Clock::now() + 2s);
        second = ec2;
        if (!ec2) received.append(buffer.data(), n2);
    });
    EXPECT_EQ(received, "EHLO x\r\nQUIT\r\n");
    EXPECT_FALSE(second) << second.message();
}

TEST(DeadlineStream, ASoonerDeadlineAfterALaterOneIsKept) {
    Pair pair;
    asio::write(pair.client, asio::buffer(std::string("x")));
    boost::system::error_code second;
    Clock::duration waited{};
    pair.run([&]() -> asio::awaitable<void> {
        std::array<char, 16> buffer{};
        co_await pair.server->read_some(asio::buffer(buffer), Clock::now() + 10s);
        const auto started = Clock::now();
        auto [ec, n] = co_await pair.server->read_some(asio::buffer(buffer), started + 50ms);
        second = ec;
        waited = Clock::now() - started;
    });
    EXPECT_EQ(second, asio::error::timed_out);
    EXPECT_GE(waited, 50ms);
    EXPECT_LT(waited, 5s);
}

TEST(DeadlineStream, CancelEndsAPendingReadAsAbortedNotTimedOut) {
    Pair pair;
    boost::system::error_code ended;
    pair.run([&]() -> asio::awaitable<void> {
        asio::steady_timer soon(pair.io, 20ms);
        soon.async_wait([&](boost::system::error_code) { pair.server->cancel(); });
        std::array<char, 16> buffer{};
        auto [ec, n] = co_await pair.server->read_some(asio::buffer(buffer), Clock::now() + 5s);
        ended = ec;
    });
    EXPECT_EQ(ended, asio::error::operation_aborted);
}

TEST(DeadlineStream, WriteSendsEveryByte) {
    Pair pair;
    const std::string message(256 * 1024, 'x');
    boost::system::error_code ended;
    std::string received;
    pair.run([&]() -> asio::awaitable<void> {
        tcp::socket& client = pair.client;
        asio::co_spawn(
            pair.io,
            [&]() -> asio::awaitable<void> {
                std::array<char, 8192> buffer{};
                while (received.size() < message.size()) {
                    auto n =
                        co_await client.async_read_some(asio::buffer(buffer), asio::use_awaitable);
                    received.append(buffer.data(), n);
                }
            },
            asio::detached);
        ended = co_await pair.server->write(asio::buffer(message), Clock::now() + 5s);
    });
    EXPECT_FALSE(ended) << ended.message();
    EXPECT_EQ(received.size(), message.size());
}

TEST(DeadlineStream, ConnectToAClosedPortFailsAndCloseStartsOver) {
    asio::io_context io;
    tcp::endpoint nowhere;
    {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        nowhere = acceptor.local_endpoint();
    }
    DeadlineStream stream(io.get_executor());
    boost::system::error_code first, second;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            stream.socket().open(tcp::v4());
            first = co_await stream.connect(nowhere, Clock::now() + 2s);
            stream.close();
            EXPECT_FALSE(stream.socket().is_open());
            tcp::acceptor listening(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
            stream.socket().open(tcp::v4());
            second = co_await stream.connect(listening.local_endpoint(), Clock::now() + 2s);
        },
        asio::detached);
    io.run();
    EXPECT_EQ(first, asio::error::connection_refused);
    EXPECT_FALSE(second) << second.message();
    EXPECT_FALSE(stream.tls_active());
    EXPECT_EQ(stream.tls_version(), "");
}

}  // namespace
}  // namespace smarthost::net
