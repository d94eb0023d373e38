// pg::NotificationListener against a real PostgreSQL: a NOTIFY sent on another connection
// reaches the callback, and after its backend is terminated the listener connects and
// listens again by itself.

#include "core/pg/notification_listener.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "tests/support/test_database.hpp"

namespace smarthost::pg {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* k_channel = "listener_test";

class NotificationListenerTest : public ::testing::Test {
  protected:
    NotificationListenerTest()
        : listener_(io_.get_executor(),
                    {.url = db_.url(),
                     .channel = k_channel,
                     .reconnect_delay = 200ms,
                     .log_name = "test",
                     .task = "listener_test"},
                    [this] { ++callbacks_; }) {}

    // Runs the I/O until `condition` holds or `deadline` passes.
    testing::AssertionResult run_until(const char* awaited, const std::function<bool()>& condition,
                                       Clock::duration deadline) {
        const auto until = Clock::now() + deadline;
        while (!condition() && Clock::now() < until) {
            io_.restart();
            io_.run_for(10ms);
        }
        if (condition()) return testing::AssertionSuccess();
        return testing::AssertionFailure() << "still waiting for " << awaited;
    }

    testing::AssertionResult listening_within(Clock::duration deadline) {
        return run_until(
            "the listener to listen", [&] { return listener_.listening(); }, deadline);
    }

    void notify(const std::string& channel) {
        db_.exec("SELECT pg_notify($1, 'payload')", channel);
    }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    std::size_t callbacks_ = 0;
    NotificationListener listener_;
};

TEST_F(NotificationListenerTest, NotifyOnAnotherConnectionReachesTheCallback) {
    listener_.start();
    ASSERT_TRUE(listening_within(10s));
    EXPECT_EQ(callbacks_, 1u);  // the one after connecting: whatever happened before
    notify(k_channel);
    EXPECT_TRUE(run_until(
        "the notification", [&] { return callbacks_ == 2; }, 2s));
}

TEST_F(NotificationListenerTest, NotifyOnAnotherChannelIsNotHeard) {
    listener_.start();
    ASSERT_TRUE(listening_within(10s));
    const auto before = callbacks_;
    notify("some_other_channel");
    // The channel's own notification, sent after the other one, marks when the other
    // one would have arrived too.
    notify(k_channel);
    ASSERT_TRUE(run_until(
        "the notification", [&] { return callbacks_ > before; }, 2s));
    EXPECT_EQ(callbacks_, before + 1);
}

TEST_F(NotificationListenerTest, ListensAgainAfterItsBackendIsTerminated) {
    listener_.start();
    ASSERT_TRUE(listening_within(10s));
    const auto terminated = db_.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'smarthost-listen' AND datname = current_database()");
    ASSERT_EQ(terminated.size(), 1u);
    ASSERT_TRUE(run_until(
        "the lost connection", [&] { return !listener_.listening(); }, 10s));
    ASSERT_TRUE(listening_within(10s));
    const auto after_reconnect = callbacks_;
    EXPECT_EQ(after_reconnect, 2u);  // one per connect
    notify(k_channel);
    EXPECT_TRUE(run_until(
        "the notification after the reconnect", [&] { return callbacks_ > after_reconnect; }, 2s));
}

TEST_F(NotificationListenerTest, StopEndsListeningAndTheCallbacks) {
    listener_.start();
    ASSERT_TRUE(listening_within(10s));
    listener_.stop();
    ASSERT_TRUE(run_until(
        "the listener to stop", [&] { return !listener_.listening(); }, 5s));
    const auto before = callbacks_;
    notify(k_channel);
    run_until(
        "nothing", [] { return false; }, 200ms);
    EXPECT_EQ(callbacks_, before);
}

}  // namespace
}  // namespace smarthost::pg
