#include "relay/events/retry_policy.hpp"

#include <gtest/gtest.h>

namespace smarthost::events {
namespace {

using namespace std::chrono_literals;

RetryPolicy policy() {
    return RetryPolicy{5s, 2.0, 60s, 5, 3600s};
}

TEST(WebhookRetryPolicy, DoublesFromTheFirstRetryUpToTheCap) {
    EXPECT_EQ(retry_delay(policy(), 1, 0s), 5s);
    EXPECT_EQ(retry_delay(policy(), 2, 0s), 10s);
    EXPECT_EQ(retry_delay(policy(), 3, 0s), 20s);
    EXPECT_EQ(retry_delay(policy(), 4, 0s), 40s);
    auto uncapped = policy();
    uncapped.max_attempts = 100;
    EXPECT_EQ(retry_delay(uncapped, 5, 0s), 60s);
    EXPECT_EQ(retry_delay(uncapped, 60, 0s), 60s);
}

TEST(WebhookRetryPolicy, GivesUpAfterMaxAttempts) {
    EXPECT_TRUE(retry_delay(policy(), 4, 0s));
    EXPECT_FALSE(retry_delay(policy(), 5, 0s));
    EXPECT_FALSE(retry_delay(policy(), 6, 0s));
}

TEST(WebhookRetryPolicy, GivesUpOnceTheEventIsMaxAgeOld) {
    EXPECT_TRUE(retry_delay(policy(), 1, 3599s));
    EXPECT_FALSE(retry_delay(policy(), 1, 3600s));
}

}  // namespace
}  // namespace smarthost::events
