// The delivery scheduler's wake-up: LISTEN on a real PostgreSQL, notifications seen within
// a second of pg_notify, and the connection opened again after the backend is killed.

#include "relay/delivery/queue_listener.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

#include "tests/support/test_database.hpp"

namespace smarthost::delivery {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs the I/O until `condition` holds or the deadline passes; returns the condition.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& condition,
               Clock::duration deadline) {
    const auto until = Clock::now() + deadline;
    while (!condition() && Clock::now() < until) {
        io.restart();
        io.run_for(10ms);
    }
    return condition();
}

class QueueListenerTest : public ::testing::Test {
  protected:
    QueueListenerTest()
        : listener_(io_.get_executor(), {db_.url(), "smarthost_queue", 200ms},
                    [this] { ++notified_; }) {}

    void notify() { db_.exec("SELECT pg_notify('smarthost_queue', '')"); }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    std::size_t notified_ = 0;
    QueueListener listener_;
};

TEST_F(QueueListenerTest, NotificationArrivesWithinASecond) {
    listener_.start();
    ASSERT_TRUE(run_until(
        io_, [&] { return listener_.listening(); }, 10s));
    const auto before = notified_;  // one for the connect: mail committed meanwhile
    EXPECT_EQ(before, 1u);
    const auto sent = Clock::now();
    notify();
    ASSERT_TRUE(run_until(
        io_, [&] { return notified_ > before; }, 1s));
    EXPECT_LT(Clock::now() - sent, 1s);
}

TEST_F(QueueListenerTest, ListensAgainAfterTheBackendIsTerminated) {
    listener_.start();
    ASSERT_TRUE(run_until(
        io_, [&] { return listener_.listening(); }, 10s));
    db_.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'smarthost-listen' AND datname = current_database()");
    ASSERT_TRUE(run_until(
        io_, [&] { return !listener_.listening(); }, 10s));
    ASSERT_TRUE(run_until(
        io_, [&] { return listener_.listening(); }, 10s));
    const auto before = notified_;
    notify();
    EXPECT_TRUE(run_until(
        io_, [&] { return notified_ > before; }, 1s));
}

TEST_F(QueueListenerTest, StopEndsListening) {
    listener_.start();
    ASSERT_TRUE(run_until(
        io_, [&] { return listener_.listening(); }, 10s));
    listener_.stop();
    EXPECT_TRUE(run_until(
        io_, [&] { return !listener_.listening(); }, 5s));
    const auto before = notified_;
    notify();
    run_until(
        io_, [] { return false; }, 200ms);
    EXPECT_EQ(notified_, before);
}

}  // namespace
}  // namespace smarthost::delivery
