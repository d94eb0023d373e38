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

}  // namespace
}  // namespace smarthost::admin
