// The process-local view of auth lockouts (relay/policy/auth_throttle.hpp).

#include "relay/policy/auth_throttle.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

using namespace std::chrono_literals;
using Kind = LockoutTable::Kind;

TEST(LockoutTable, LockHoldsUntilItsEnd) {
    LockoutTable table;
    const auto now = LockoutTable::Clock::now();
    EXPECT_FALSE(table.locked(Kind::ip, "192.0.2.1", now));
    table.lock(Kind::ip, "192.0.2.1", now + 10s);
    EXPECT_TRUE(table.locked(Kind::ip, "192.0.2.1", now + 9s));
    EXPECT_FALSE(table.locked(Kind::ip, "192.0.2.1", now + 10s));
}

TEST(LockoutTable, KindsAndKeysAreSeparate) {
    LockoutTable table;
    const auto now = LockoutTable::Clock::now();
    table.lock(Kind::username, "192.0.2.1", now + 10s);
    EXPECT_FALSE(table.locked(Kind::ip, "192.0.2.1", now));
    EXPECT_FALSE(table.locked(Kind::username, "192.0.2.2", now));
    EXPECT_TRUE(table.locked(Kind::username, "192.0.2.1", now));
}

TEST(LockoutTable, LaterLockWinsAndReplaceDropsOldOnes) {
    LockoutTable table;
    const auto now = LockoutTable::Clock::now();
    table.lock(Kind::ip, "a", now + 20s);
    table.lock(Kind::ip, "a", now + 5s);  // a shorter lock does not shorten the longer one
    EXPECT_TRUE(table.locked(Kind::ip, "a", now + 10s));
    table.replace({{LockoutTable::entry(Kind::ip, "b"), now + 5s}});
    EXPECT_FALSE(table.locked(Kind::ip, "a", now));
    EXPECT_TRUE(table.locked(Kind::ip, "b", now));
}

}  // namespace
}  // namespace smarthost::policy
