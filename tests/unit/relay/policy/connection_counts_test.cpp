// The arithmetic of per-account connection limits: admission against the local and the
// published counts, release, and which counts a publication carries.

#include "relay/policy/connection_counts.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace smarthost::policy {
namespace {

ConnectionCounts::Changes sorted(ConnectionCounts::Changes changes) {
    std::sort(changes.begin(), changes.end());
    return changes;
}

TEST(ConnectionCounts, AdmitsUpToTheLimitHereAndRefusesTheNext) {
    ConnectionCounts counts;
    EXPECT_TRUE(counts.try_admit(7, 2));
    EXPECT_TRUE(counts.try_admit(7, 2));
    EXPECT_FALSE(counts.try_admit(7, 2));
    EXPECT_EQ(counts.here(7), 2u);
    EXPECT_TRUE(counts.try_admit(8, 2)) << "another account has its own count";
}

TEST(ConnectionCounts, AReleasedSessionMakesRoomAgain) {
    ConnectionCounts counts;
    ASSERT_TRUE(counts.try_admit(7, 1));
    EXPECT_FALSE(counts.try_admit(7, 1));
    counts.release(7);
    EXPECT_EQ(counts.here(7), 0u);
    EXPECT_TRUE(counts.try_admit(7, 1));
}

TEST(ConnectionCounts, OtherReplicasSessionsCountTowardsTheLimit) {
    ConnectionCounts counts;
    counts.replace_elsewhere({{7, 2}});
    EXPECT_TRUE(counts.try_admit(7, 3));
    EXPECT_FALSE(counts.try_admit(7, 3));
    counts.replace_elsewhere({{7, 1}});
    EXPECT_TRUE(counts.try_admit(7, 3));
    EXPECT_FALSE(counts.try_admit(7, 3));
    EXPECT_EQ(counts.here(7), 2u);
    EXPECT_EQ(counts.elsewhere(7), 1u);
}

TEST(ConnectionCounts, ALimitLoweredBelowTheOpenSessionsRefusesUntilTheyEnd) {
    ConnectionCounts counts;
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(counts.try_admit(7, 5));
    EXPECT_FALSE(counts.try_admit(7, 2));
    counts.release(7);
    counts.release(7);
    EXPECT_TRUE(counts.try_admit(7, 2));
}

TEST(ConnectionCounts, NoLimitAdmitsWithoutCounting) {
    ConnectionCounts counts;
    counts.replace_elsewhere({{7, 1000}});
    EXPECT_TRUE(counts.try_admit(7, 0));
    EXPECT_EQ(counts.here(7), 0u);
    EXPECT_TRUE(counts.take_changes().empty());
}

TEST(ConnectionCounts, ReleasingAnUncountedAccountChangesNothing) {
    ConnectionCounts counts;
    counts.release(7);
    EXPECT_EQ(counts.here(7), 0u);
    EXPECT_TRUE(counts.take_changes().empty());
}

TEST(ConnectionCounts, ChangesCarryTheCurrentCountsIncludingZeros) {
    ConnectionCounts counts;
    counts.try_admit(7, 5);
    counts.try_admit(7, 5);
    counts.try_admit(8, 5);
    EXPECT_EQ(sorted(counts.take_changes()), (ConnectionCounts::Changes{{7, 2}, {8, 1}}));
    EXPECT_TRUE(counts.take_changes().empty()) << "nothing changed since";
    counts.release(8);
    EXPECT_EQ(counts.take_changes(), (ConnectionCounts::Changes{{8, 0}}));
}

TEST(ConnectionCounts, AFullPublicationHasEveryNonZeroCountAndClearsTheChanges) {
    ConnectionCounts counts;
    counts.try_admit(7, 5);
    counts.try_admit(8, 5);
    counts.release(8);
    EXPECT_EQ(counts.take_all(), (ConnectionCounts::Changes{{7, 1}}));
    EXPECT_TRUE(counts.take_changes().empty());
}

}  // namespace
}  // namespace smarthost::policy
