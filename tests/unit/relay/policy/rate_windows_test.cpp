#include "relay/policy/rate_windows.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

using namespace std::chrono_literals;

// 2026-11-25T14:37:12Z
const SystemTime k_now = SystemTime(std::chrono::seconds(1795617432));

TEST(RateWindows, WindowsAreAlignedToUtcMinutesHoursAndDays) {
    const auto minute = window_of(RateLimit::messages_per_minute, k_now);
    EXPECT_EQ(minute.start, SystemTime(std::chrono::seconds(1795617420)));  // 14:37:00
    EXPECT_EQ(minute.end - minute.start, 1min);
    const auto hour = window_of(RateLimit::recipients_per_hour, k_now);
    EXPECT_EQ(hour.start, SystemTime(std::chrono::seconds(1795615200)));  // 14:00:00
    EXPECT_EQ(hour.end, SystemTime(std::chrono::seconds(1795618800)));    // 15:00:00
    const auto day = window_of(RateLimit::messages_per_day, k_now);
    EXPECT_EQ(day.start, SystemTime(std::chrono::seconds(1795564800)));  // 00:00:00
    EXPECT_EQ(day.end - day.start, 24h);
    // The last second of a window belongs to it, the next to the next one.
    EXPECT_EQ(window_of(RateLimit::messages_per_hour, hour.end - 1s).start, hour.start);
    EXPECT_EQ(window_of(RateLimit::messages_per_hour, hour.end).start, hour.end);
}

TEST(RateWindows, LeaseRequestIsATenthOfTheLimitWithinBounds) {
    EXPECT_EQ(lease_request(1000, 1, 100), 100u);
    EXPECT_EQ(lease_request(100000, 1, 100), 100u);  // capped by max_block
    EXPECT_EQ(lease_request(5, 1, 100), 1u);         // at least one
    EXPECT_EQ(lease_request(50, 7, 100), 7u);        // at least what is needed now
}

TEST(RateWindows, LedgerServesOnlyTheWindowItsBlockWasLeasedFor) {
    QuotaLedger ledger;
    const auto window = window_of(RateLimit::messages_per_minute, k_now);
    EXPECT_FALSE(ledger.take(7, RateLimit::messages_per_minute, window, 1));
    ledger.add(7, RateLimit::messages_per_minute, window, 2);
    EXPECT_TRUE(ledger.take(7, RateLimit::messages_per_minute, window, 1));
    EXPECT_FALSE(ledger.take(8, RateLimit::messages_per_minute, window, 1));  // another account
    EXPECT_FALSE(ledger.take(7, RateLimit::messages_per_hour,
                             window_of(RateLimit::messages_per_hour, k_now), 1));
    EXPECT_FALSE(ledger.take(7, RateLimit::messages_per_minute, window, 2));  // only 1 left
    const auto next = window_of(RateLimit::messages_per_minute, window.end);
    EXPECT_FALSE(ledger.take(7, RateLimit::messages_per_minute, next, 1));
    ledger.add(7, RateLimit::messages_per_minute, next, 3);  // replaces the old block
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_minute, window), 0u);
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_minute, next), 3u);
    ledger.expire(next.end);
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_minute, next), 0u);
}

TEST(RateWindows, LedgerExpiresEachBlockWhenItsOwnWindowEnds) {
    QuotaLedger ledger;
    const auto hour = window_of(RateLimit::messages_per_hour, k_now);
    const auto minute = window_of(RateLimit::messages_per_minute, k_now);
    ledger.add(7, RateLimit::messages_per_hour, hour, 5);
    ledger.expire(k_now);  // nothing has ended
    // A block added later with an earlier end must still be forgotten at that end.
    ledger.add(7, RateLimit::messages_per_minute, minute, 3);
    ledger.expire(minute.end - 1s);
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_minute, minute), 3u);
    ledger.expire(minute.end);
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_minute, minute), 0u);
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_hour, hour), 5u);
    const auto next_minute = window_of(RateLimit::messages_per_minute, minute.end);
    ledger.add(8, RateLimit::messages_per_minute, next_minute, 2);
    ledger.expire(next_minute.end);
    EXPECT_EQ(ledger.held(8, RateLimit::messages_per_minute, next_minute), 0u);
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_hour, hour), 5u);
    ledger.expire(hour.end);
    EXPECT_EQ(ledger.held(7, RateLimit::messages_per_hour, hour), 0u);
}

}  // namespace
}  // namespace smarthost::policy
