#include "relay/delivery/destination_backoff.hpp"

#include <gtest/gtest.h>

#include "relay/delivery/destination_leases.hpp"

namespace smarthost::delivery {
namespace {

using namespace std::chrono_literals;

const BackoffTime k_noon = BackoffTime(std::chrono::seconds(1795608000));  // 2026-11-25T12:00Z

ShapingConfig settings() {
    ShapingConfig c;
    c.backoff = 60s;
    c.max_backoff = 900s;
    c.min_throttle = 0.125;
    c.recovery_factor = 1.5;
    c.recovery_interval = 120s;
    return c;
}

TEST(DestinationBackoff, APushBackHalvesTheThrottleAndBacksOffForBackoffOverThrottle) {
    const auto next = after_push_back(BackoffState{}, settings(), k_noon, "421 4.7.28 slow down");
    ASSERT_TRUE(next);
    EXPECT_DOUBLE_EQ(next->throttle, 0.5);
    EXPECT_EQ(next->backoff_until, k_noon + 120s);  // 60 s / 0.5
    EXPECT_EQ(next->backoffs, 1u);
    EXPECT_EQ(next->last_reply, "421 4.7.28 slow down");
    EXPECT_TRUE(in_backoff(*next, k_noon + 119s));
    EXPECT_FALSE(in_backoff(*next, k_noon + 120s));
}

TEST(DestinationBackoff, PushBacksDuringABackoffAreTheSameEpisode) {
    const auto first = after_push_back(BackoffState{}, settings(), k_noon, "421");
    ASSERT_TRUE(first);
    EXPECT_FALSE(after_push_back(*first, settings(), k_noon + 10s, "421"));
}

TEST(DestinationBackoff, RepeatedPushBacksHalveDownToTheFloorAndCapTheBackoff) {
    BackoffState state;
    auto now = k_noon;
    for (int i = 0; i < 6; ++i) {
        auto next = after_push_back(state, settings(), now, "421");
        ASSERT_TRUE(next);
        state = *next;
        now = state.backoff_until;  // the next push-back right after the backoff ends
    }
    EXPECT_DOUBLE_EQ(state.throttle, 0.125);
    EXPECT_EQ(state.backoffs, 6u);
    const auto last = after_push_back(state, settings(), now, "421");
    ASSERT_TRUE(last);
    EXPECT_EQ(last->backoff_until, now + 480s);  // 60 / 0.125, under the 900 s cap
    ShapingConfig capped = settings();
    capped.max_backoff = 300s;
    EXPECT_EQ(after_push_back(state, capped, now, "421")->backoff_until, now + 300s);
}

TEST(DestinationBackoff, TheThrottleRecoversByTheFactorPerCleanIntervalUpToOne) {
    BackoffState state;
    state.throttle = 0.25;
    state.backoff_until = k_noon;
    EXPECT_DOUBLE_EQ(throttle_at(state, settings(), k_noon - 1s), 0.25);  // still backing off
    EXPECT_DOUBLE_EQ(throttle_at(state, settings(), k_noon + 119s), 0.25);
    EXPECT_DOUBLE_EQ(throttle_at(state, settings(), k_noon + 120s), 0.375);
    EXPECT_DOUBLE_EQ(throttle_at(state, settings(), k_noon + 240s), 0.5625);
    EXPECT_DOUBLE_EQ(throttle_at(state, settings(), k_noon + 24h), 1.0);
    // A push-back after partial recovery halves what was in force then.
    EXPECT_DOUBLE_EQ(after_push_back(state, settings(), k_noon + 240s, "421")->throttle, 0.28125);
    EXPECT_DOUBLE_EQ(throttle_at(BackoffState{}, settings(), k_noon), 1.0);
}

TEST(DestinationRates, AThrottledLimitNeverDropsToZero) {
    EXPECT_EQ(throttled(1000, 0.5), 500u);
    EXPECT_EQ(throttled(3, 0.5), 1u);
    EXPECT_EQ(throttled(1, 0.125), 1u);
    EXPECT_EQ(throttled(0, 0.5), 0u);  // no limit stays no limit
    EXPECT_EQ(throttled(7, 1.0), 7u);
}

TEST(DestinationRates, TheGrantIsTheSmallestHoldingAndTheRestWaitsForItsWindow) {
    const auto minute_end = k_noon + 60s;
    const auto hour_end = k_noon + 1h;
    auto grant = grant_from({{10, minute_end}, {100, hour_end}}, 6, k_noon);
    EXPECT_EQ(grant.granted, 6u);
    grant = grant_from({{3, minute_end}, {100, hour_end}}, 6, k_noon);
    EXPECT_EQ(grant.granted, 3u);
    EXPECT_EQ(grant.retry_at, minute_end);
    grant = grant_from({{3, minute_end}, {1, hour_end}}, 6, k_noon);
    EXPECT_EQ(grant.granted, 1u);
    EXPECT_EQ(grant.retry_at, hour_end);  // the minute's reset would not be enough
    grant = grant_from({{0, minute_end}, {5, hour_end}}, 6, k_noon);
    EXPECT_EQ(grant.granted, 0u);
    EXPECT_EQ(grant.retry_at, minute_end);  // the hour has some left for after the minute
    grant = grant_from({{2, minute_end}, {2, hour_end}}, 6, k_noon);
    EXPECT_EQ(grant.retry_at, hour_end);  // both bind: the later
    grant = grant_from({}, 6, k_noon);
    EXPECT_EQ(grant.granted, 6u);
}

}  // namespace
}  // namespace smarthost::delivery
