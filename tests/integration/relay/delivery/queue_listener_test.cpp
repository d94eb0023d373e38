// The delivery scheduler's wake-up on a real PostgreSQL: what QueueListener adds to
// pg::NotificationListener (whose own tests cover listening, reconnecting and stopping) is
// the queue's channel and a wake-up after every (re)connect, for mail committed while no
// one listened.

#include "relay/delivery/queue_listener.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <utility>

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
        : listener_(io_.get_executor(), settings(db_.url()), [this] { ++notified_; }) {}

    static QueueListener::Settings settings(std::string url) {
        QueueListener::Settings s;  // the queue's own channel
        s.database_url = std::move(url);
        s.reconnect_delay = 200ms;
        return s;
    }

    void notify() { db_.exec("SELECT pg_notify($1, '')", std::string(queue::k_queue_channel)); }

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

TEST_F(QueueListenerTest, AReconnectWakesTheSchedulerForMailCommittedMeanwhile) {
    listener_.start();
    ASSERT_TRUE(run_until(
        io_, [&] { return listener_.listening(); }, 10s));
    db_.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'smarthost-listen' AND datname = current_database()");
    ASSERT_TRUE(run_until(
        io_, [&] { return !listener_.listening(); }, 10s));
    const auto before = notified_;
    ASSERT_TRUE(run_until(
        io_, [&] { return listener_.listening(); }, 10s));
    // No notification was sent: the wake-up is the reconnect's own.
    EXPECT_TRUE(run_until(
        io_, [&] { return notified_ > before; }, 1s));
}

}  // namespace
}  // namespace smarthost::delivery
