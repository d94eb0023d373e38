#include "relay/queue/retry_schedule.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace smarthost::queue {
namespace {

using namespace std::chrono_literals;
using TimePoint = RetrySchedule::TimePoint;

RetrySchedule fixed(double unit, RetryPolicy policy = {}) {
    return RetrySchedule(policy, [unit] { return unit; });
}

const TimePoint received = TimePoint(std::chrono::seconds(1'700'000'000));

TEST(RetrySchedule, NominalDelayDoublesFromFiveMinutesUpToFourHours) {
    const auto schedule = fixed(0.5);
    EXPECT_EQ(schedule.nominal_delay(1), 5min);
    EXPECT_EQ(schedule.nominal_delay(2), 10min);
    EXPECT_EQ(schedule.nominal_delay(3), 20min);
    EXPECT_EQ(schedule.nominal_delay(4), 40min);
    EXPECT_EQ(schedule.nominal_delay(5), 80min);
    EXPECT_EQ(schedule.nominal_delay(6), 160min);
    EXPECT_EQ(schedule.nominal_delay(7), 4h);  // 320 min capped
    EXPECT_EQ(schedule.nominal_delay(1000), 4h);
}

TEST(RetrySchedule, AttemptsBelowOneCountAsTheFirst) {
    const auto schedule = fixed(0.5);
    EXPECT_EQ(schedule.nominal_delay(0), 5min);
    EXPECT_EQ(schedule.nominal_delay(-3), 5min);
}

TEST(RetrySchedule, MidpointOfTheRandomRangeGivesTheNominalDelay) {
    auto schedule = fixed(0.5);
    EXPECT_EQ(schedule.delay(1), 5min);
    EXPECT_EQ(schedule.delay(7), 4h);
}

TEST(RetrySchedule, JitterSpansPlusMinusTwentyPercent) {
    auto low = fixed(0.0);
    auto high = fixed(1.0);
    EXPECT_EQ(low.delay(1), 240s);     // 300 s * 0.8
    EXPECT_EQ(high.delay(1), 360s);    // 300 s * 1.2
    EXPECT_EQ(low.delay(7), 11520s);   // 4 h * 0.8
    EXPECT_EQ(high.delay(7), 17280s);  // 4 h * 1.2: jitter may pass the cap
}

TEST(RetrySchedule, OutOfRangeRandomNumbersAreClamped) {
    auto below = fixed(-5.0);
    auto above = fixed(7.0);
    EXPECT_EQ(below.delay(1), 240s);
    EXPECT_EQ(above.delay(1), 360s);
}

TEST(RetrySchedule, ConfiguredScheduleIsFollowed) {
    RetryPolicy policy;
    policy.first_retry = 60s;
    policy.factor = 3.0;
    policy.max_interval = 1000s;
    policy.jitter = 0.0;
    auto schedule = fixed(0.99, policy);
    EXPECT_EQ(schedule.delay(1), 60s);
    EXPECT_EQ(schedule.delay(2), 180s);
    EXPECT_EQ(schedule.delay(3), 540s);
    EXPECT_EQ(schedule.delay(4), 1000s);
}

TEST(RetrySchedule, NonsensicalSettingsAreClamped) {
    RetryPolicy policy;
    policy.first_retry = 0s;
    policy.factor = 0.5;
    policy.max_interval = 0s;
    policy.jitter = 5.0;
    auto schedule = fixed(0.0, policy);
    EXPECT_EQ(schedule.nominal_delay(1), 1s);
    EXPECT_EQ(schedule.nominal_delay(10), 1s);
    EXPECT_GE(schedule.delay(1), 1s);  // never a zero delay, even with full negative jitter
    EXPECT_LT(schedule.policy().jitter, 1.0);
}

TEST(RetrySchedule, DelayWarningIsDueOnceAfterTheConfiguredWait) {
    const auto schedule = fixed(0.5);  // default: 4 hours
    EXPECT_FALSE(schedule.warn_delay(received, false, received + 4h - 1s));
    EXPECT_TRUE(schedule.warn_delay(received, false, received + 4h));
    EXPECT_TRUE(schedule.warn_delay(received, false, received + 30h));
    EXPECT_FALSE(schedule.warn_delay(received, true, received + 30h));  // one warning only
    EXPECT_EQ(schedule.retry_until(received), received + 5 * 24h);
}

TEST(RetrySchedule, ZeroDelayWarningNeverWarns) {
    RetryPolicy policy;
    policy.delay_warning = 0s;
    const auto schedule = fixed(0.5, policy);
    EXPECT_FALSE(schedule.warn_delay(received, false, received + 4 * 24h));
    policy.delay_warning = -5s;  // clamped to zero
    EXPECT_FALSE(fixed(0.5, policy).warn_delay(received, false, received + 4 * 24h));
}

TEST(RetrySchedule, ExpiresExactlyWhenTheLifetimeHasPassed) {
    const auto schedule = fixed(0.5);
    EXPECT_FALSE(schedule.expired(received, received));
    EXPECT_FALSE(schedule.expired(received, received + 5 * 24h - 1s));
    EXPECT_TRUE(schedule.expired(received, received + 5 * 24h));
    EXPECT_TRUE(schedule.expired(received, received + 6 * 24h));
}

TEST(RetrySchedule, TemporaryFailureSchedulesTheNextAttempt) {
    auto schedule = fixed(0.5);
    const TimePoint now = received + 1h;
    const auto decision = schedule.after_temporary_failure(received, 2, now);
    EXPECT_FALSE(decision.expire);
    EXPECT_EQ(decision.next_attempt_at, now + 10min);
}

TEST(RetrySchedule, LastRetryIsClampedToTheEndOfTheLifetime) {
    auto schedule = fixed(0.5);
    const TimePoint now = received + 5 * 24h - 1h;
    const auto decision = schedule.after_temporary_failure(received, 30, now);
    EXPECT_FALSE(decision.expire);
    EXPECT_EQ(decision.next_attempt_at, received + 5 * 24h);
}

TEST(RetrySchedule, TemporaryFailureAtTheEndOfTheLifetimeExpires) {
    auto schedule = fixed(0.5);
    EXPECT_TRUE(schedule.after_temporary_failure(received, 30, received + 5 * 24h).expire);
    EXPECT_FALSE(schedule.after_temporary_failure(received, 30, received + 5 * 24h - 1s).expire);
}

TEST(RetrySchedule, DefaultGeneratorStaysWithinTheJitterRange) {
    RetrySchedule schedule{RetryPolicy{}};
    for (int i = 0; i < 1000; ++i) {
        const auto delay = schedule.delay(1);
        EXPECT_GE(delay, 240s);
        EXPECT_LE(delay, 360s);
    }
}

}  // namespace
}  // namespace smarthost::queue
