#include "core/spawn.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>

#include "core/metrics/metrics.hpp"

namespace smarthost {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

double failures_of(const char* task) {
    return metrics::global().task_failures.Add({{"task", task}}).Value();
}

TEST(SpawnLogged, AnExceptionIsCountedUnderItsTaskInsteadOfDropped) {
    asio::io_context io;
    const double before = failures_of("spawn_test_once");
    spawn_logged(io, "spawn_test_once", []() -> asio::awaitable<void> {
        throw std::runtime_error("boom");
        co_return;
    });
    io.run();
    EXPECT_EQ(failures_of("spawn_test_once"), before + 1);
}

TEST(SpawnLogged, ACoroutineThatReturnsCountsNothing) {
    asio::io_context io;
    const double before = failures_of("spawn_test_fine");
    bool ran = false;
    spawn_logged(io, "spawn_test_fine", [&]() -> asio::awaitable<void> {
        ran = true;
        co_return;
    });
    io.run();
    EXPECT_TRUE(ran);
    EXPECT_EQ(failures_of("spawn_test_fine"), before);
}

TEST(SpawnSupervised, ALoopThatThrowsIsReportedAndStartedAgainUntilItReturns) {
    asio::io_context io;
    const double before = failures_of("spawn_test_loop");
    int starts = 0;
    spawn_supervised(
        io, "spawn_test_loop",
        [&]() -> asio::awaitable<void> {
            ++starts;
            if (starts < 3) throw std::runtime_error("claim failed");
            co_return;
        },
        1ms);
    io.run();
    EXPECT_EQ(starts, 3);  // two failures, then the loop ran to its normal end
    EXPECT_EQ(failures_of("spawn_test_loop"), before + 2);
}

}  // namespace
}  // namespace smarthost
