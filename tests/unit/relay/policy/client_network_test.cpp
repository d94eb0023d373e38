#include "relay/policy/client_network.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

TEST(ClientNetwork, AnIpv4AddressIsItsOwnNetwork) {
    EXPECT_EQ(client_network("192.0.2.7", 64), "192.0.2.7");
    EXPECT_EQ(client_network("::ffff:192.0.2.7", 64), "192.0.2.7");
}

// An attacker with a /64 has 2^64 addresses: counting each alone would let every guess
// come from a fresh one.
TEST(ClientNetwork, AnIpv6AddressCountsAsItsPrefix) {
    EXPECT_EQ(client_network("2001:db8:1:2:a:b:c:d", 64), "2001:db8:1:2::/64");
    EXPECT_EQ(client_network("2001:db8:1:2:ffff:ffff:ffff:ffff", 64), "2001:db8:1:2::/64");
    EXPECT_EQ(client_network("2001:db8:1:2:a:b:c:d", 48), "2001:db8:1::/48");
    EXPECT_EQ(client_network("2001:db8:1:2:a:b:c:d", 56), "2001:db8:1::/56");
    EXPECT_EQ(client_network("2001:db8:1:2ff:a:b:c:d", 56), "2001:db8:1:200::/56");
    EXPECT_EQ(client_network("2001:db8::1", 128), "2001:db8::1");
    EXPECT_EQ(client_network("::1", 64), "::/64");
}

TEST(ClientNetwork, TextThatIsNoAddressStaysAsItIs) {
    EXPECT_EQ(client_network("not an address", 64), "not an address");
    EXPECT_EQ(client_network("", 64), "");
}

}  // namespace
}  // namespace smarthost::policy
