#include "admin-api/cidr.hpp"

#include <gtest/gtest.h>

namespace smarthost::admin {
namespace {

std::optional<std::string> canonical(std::string_view text) {
    std::string why;
    auto result = canonical_cidr(text, why);
    if (!result) {
        EXPECT_FALSE(why.empty()) << text;
    }
    return result;
}

TEST(Cidr, AcceptsIpv4AndIpv6Networks) {
    EXPECT_EQ(canonical("192.0.2.0/24"), "192.0.2.0/24");
    EXPECT_EQ(canonical("0.0.0.0/0"), "0.0.0.0/0");
    EXPECT_EQ(canonical("2001:db8::/32"), "2001:db8::/32");
    EXPECT_EQ(canonical("2001:DB8:0:0::/48"), "2001:db8::/48");
}

TEST(Cidr, ABareAddressIsAHostNetwork) {
    EXPECT_EQ(canonical("192.0.2.7"), "192.0.2.7/32");
    EXPECT_EQ(canonical("2001:db8::1"), "2001:db8::1/128");
}

TEST(Cidr, RefusesHostBitsRightOfThePrefix) {
    std::string why;
    EXPECT_EQ(canonical_cidr("10.0.0.1/8", why), std::nullopt);
    EXPECT_NE(why.find("10.0.0.0/8"), std::string::npos);
    EXPECT_EQ(canonical("2001:db8::1/32"), std::nullopt);
}

TEST(Cidr, RefusesMalformedInput) {
    for (const auto* text :
         {"", "/24", "10.0.0.0/", "10.0.0.0/33", "2001:db8::/129", "10.0.0/24", "example.com",
          "10.0.0.0/24/1", "10.0.0.0/-1", "fe80::1%eth0", "10.0.0.0/ 8", "256.0.0.0/8"})
        EXPECT_EQ(canonical(text), std::nullopt) << text;
}

// Issue 11 point 20: one typo ("/4" for "/24") or a pasted "0.0.0.0/0" would let much of
// the Internet relay without AUTH.
TEST(Cidr, NetworksBroaderThanTheLimitsAreTooBroad) {
    const NetworkBreadth defaults;
    EXPECT_EQ(too_broad("10.1.0.0/16", defaults), std::nullopt);
    EXPECT_EQ(too_broad("192.0.2.0/24", defaults), std::nullopt);
    EXPECT_EQ(too_broad("192.0.2.7/32", defaults), std::nullopt);
    EXPECT_EQ(too_broad("2001:db8:1::/48", defaults), std::nullopt);
    EXPECT_EQ(too_broad("2001:db8::1/128", defaults), std::nullopt);
    EXPECT_EQ(too_broad("10.0.0.0/15", defaults),
              "10.0.0.0/15 is broader than /16 (admin.min_network_prefix_ipv4); send \"force\": "
              "true to allow it anyway");
    EXPECT_EQ(too_broad("0.0.0.0/0", defaults),
              "0.0.0.0/0 is broader than /16 (admin.min_network_prefix_ipv4); send \"force\": "
              "true to allow it anyway");
    EXPECT_EQ(too_broad("2001:db8::/32", defaults),
              "2001:db8::/32 is broader than /48 (admin.min_network_prefix_ipv6); send "
              "\"force\": true to allow it anyway");
    EXPECT_NE(too_broad("::/0", defaults), std::nullopt);
}

TEST(Cidr, TheLimitsAreTheOperators) {
    EXPECT_EQ(too_broad("10.0.0.0/8", NetworkBreadth{8, 48}), std::nullopt);
    EXPECT_NE(too_broad("10.0.0.0/7", NetworkBreadth{8, 48}), std::nullopt);
    EXPECT_NE(too_broad("192.0.2.0/24", NetworkBreadth{32, 128}), std::nullopt);
    EXPECT_EQ(too_broad("0.0.0.0/0", NetworkBreadth{0, 0}), std::nullopt);
    EXPECT_EQ(too_broad("::/0", NetworkBreadth{0, 0}), std::nullopt);
}

}  // namespace
}  // namespace smarthost::admin
