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
    EXPECT_FALSE(table.locked(Kind::network, "192.0.2.1", now));
    table.lock(Kind::network, "192.0.2.1", now + 10s);
    EXPECT_TRUE(table.locked(Kind::network, "192.0.2.1", now + 9s));
    EXPECT_FALSE(table.locked(Kind::network, "192.0.2.1", now + 10s));
}

TEST(LockoutTable, KindsAndKeysAreSeparate) {
    LockoutTable table;
    const auto now = LockoutTable::Clock::now();
    table.lock(Kind::username, "192.0.2.1", now + 10s);
    EXPECT_FALSE(table.locked(Kind::network, "192.0.2.1", now));
    EXPECT_FALSE(table.locked(Kind::username, "192.0.2.2", now));
    EXPECT_TRUE(table.locked(Kind::username, "192.0.2.1", now));
}

TEST(LockoutTable, LaterLockWinsAndReplaceDropsOldOnes) {
    LockoutTable table;
    const auto now = LockoutTable::Clock::now();
    table.lock(Kind::network, "a", now + 20s);
    table.lock(Kind::network, "a", now + 5s);  // a shorter lock does not shorten the longer one
    EXPECT_TRUE(table.locked(Kind::network, "a", now + 10s));
    table.replace({{LockoutTable::entry(Kind::network, "b"), now + 5s}});
    EXPECT_FALSE(table.locked(Kind::network, "a", now));
    EXPECT_TRUE(table.locked(Kind::network, "b", now));
}

// The pair key is "<network>|<username>": one username from one network.
TEST(LockoutTable, AUsernameFromANetworkIsItsOwnKey) {
    LockoutTable table;
    const auto now = LockoutTable::Clock::now();
    table.lock(Kind::username_network, LockoutTable::username_network_key("192.0.2.1", "bob"),
               now + 10s);
    EXPECT_TRUE(table.locked(Kind::username_network,
                             LockoutTable::username_network_key("192.0.2.1", "bob"), now));
    EXPECT_FALSE(table.locked(Kind::username_network,
                              LockoutTable::username_network_key("192.0.2.2", "bob"), now));
    EXPECT_FALSE(table.locked(Kind::username, "bob", now));
    EXPECT_FALSE(table.locked(Kind::network, "192.0.2.1", now));
    // A network never holds '|', so the key's first '|' ends the network whatever the
    // username holds.
    EXPECT_EQ(LockoutTable::username_network_key("2001:db8::/64", "x|bob"), "2001:db8::/64|x|bob");
}

}  // namespace
}  // namespace smarthost::policy
