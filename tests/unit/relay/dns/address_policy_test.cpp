#include "relay/dns/address_policy.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace smarthost::dns {
namespace {

void expect_refused(const AddressPolicy& policy, const std::string& address,
                    const std::string& reason) {
    auto refusal = policy.refusal(address);
    ASSERT_TRUE(refusal) << address << " was allowed";
    EXPECT_EQ(*refusal, reason);
}

TEST(AddressPolicy, PublicAddressesAreAllowed) {
    AddressPolicy policy;
    for (const char* address :
         {"8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "192.0.1.255",
          "2a00:1450:4001:80b::200e", "2001:4860:4860::8888"}) {
        EXPECT_TRUE(policy.allows(address)) << *policy.refusal(address);
    }
}

TEST(AddressPolicy, LoopbackIsRefused) {
    AddressPolicy policy;
    expect_refused(policy, "127.0.0.1", "127.0.0.1 is a loopback address (127.0.0.0/8)");
    expect_refused(policy, "127.255.0.9", "127.255.0.9 is a loopback address (127.0.0.0/8)");
    expect_refused(policy, "::1", "::1 is a loopback address (::1/128)");
}

TEST(AddressPolicy, PrivateNetworksAreRefused) {
    AddressPolicy policy;
    expect_refused(policy, "10.1.2.3", "10.1.2.3 is a private address (10.0.0.0/8)");
    expect_refused(policy, "172.16.0.1", "172.16.0.1 is a private address (172.16.0.0/12)");
    expect_refused(policy, "172.31.255.255", "172.31.255.255 is a private address (172.16.0.0/12)");
    expect_refused(policy, "192.168.1.1", "192.168.1.1 is a private address (192.168.0.0/16)");
    expect_refused(policy, "fd12:3456::1", "fd12:3456::1 is a unique local address (fc00::/7)");
    expect_refused(policy, "fc00::1", "fc00::1 is a unique local address (fc00::/7)");
}

TEST(AddressPolicy, LinkLocalIsRefused) {
    AddressPolicy policy;
    expect_refused(policy, "169.254.169.254",
                   "169.254.169.254 is a link-local address (169.254.0.0/16)");
    expect_refused(policy, "fe80::1", "fe80::1 is a link-local address (fe80::/10)");
}

TEST(AddressPolicy, SharedCarrierGradeNatIsRefused) {
    AddressPolicy policy;
    expect_refused(policy, "100.64.0.1",
                   "100.64.0.1 is a carrier-grade NAT shared address (100.64.0.0/10)");
    expect_refused(policy, "100.127.255.254",
                   "100.127.255.254 is a carrier-grade NAT shared address (100.64.0.0/10)");
}

TEST(AddressPolicy, MulticastIsRefused) {
    AddressPolicy policy;
    expect_refused(policy, "224.0.0.1", "224.0.0.1 is a multicast address (224.0.0.0/4)");
    expect_refused(policy, "239.1.1.1", "239.1.1.1 is a multicast address (224.0.0.0/4)");
    expect_refused(policy, "ff02::1", "ff02::1 is a multicast address (ff00::/8)");
}

TEST(AddressPolicy, DocumentationRangesAreRefused) {
    AddressPolicy policy;
    expect_refused(policy, "192.0.2.1", "192.0.2.1 is a documentation address (192.0.2.0/24)");
    expect_refused(policy, "198.51.100.7",
                   "198.51.100.7 is a documentation address (198.51.100.0/24)");
    expect_refused(policy, "203.0.113.9",
                   "203.0.113.9 is a documentation address (203.0.113.0/24)");
    expect_refused(policy, "2001:db8::25",
                   "2001:db8::25 is a documentation address (2001:db8::/32)");
    expect_refused(policy, "3fff::1", "3fff::1 is a documentation address (3fff::/20)");
}

TEST(AddressPolicy, ReservedAndSpecialRangesAreRefused) {
    AddressPolicy policy;
    expect_refused(policy, "240.0.0.1", "240.0.0.1 is a reserved address (240.0.0.0/4)");
    expect_refused(policy, "255.255.255.255",
                   "255.255.255.255 is the broadcast address (255.255.255.255/32)");
    expect_refused(policy, "0.1.2.3", "0.1.2.3 is a \"this network\" address (0.0.0.0/8)");
    expect_refused(policy, "198.18.0.1", "198.18.0.1 is a benchmarking address (198.18.0.0/15)");
    expect_refused(policy, "192.0.0.8",
                   "192.0.0.8 is an IETF protocol assignment address (192.0.0.0/24)");
    expect_refused(policy, "2001::1", "2001::1 is a Teredo address (2001::/32)");
    expect_refused(policy, "2002:a00:1::1", "2002:a00:1::1 is a 6to4 address (2002::/16)");
    expect_refused(policy, "100::1", "100::1 is a discard-only address (100::/64)");
    expect_refused(policy, "fec0::1", "fec0::1 is a site-local address (fec0::/10)");
}

TEST(AddressPolicy, UnspecifiedIsRefused) {
    AddressPolicy policy;
    expect_refused(policy, "0.0.0.0", "0.0.0.0 is the unspecified address (0.0.0.0/32)");
    expect_refused(policy, "::", ":: is the unspecified address (::/128)");
}

TEST(AddressPolicy, Ipv4MappedAndCompatibleAreRefused) {
    AddressPolicy policy;
    expect_refused(policy, "::ffff:8.8.8.8",
                   "::ffff:8.8.8.8 is an IPv4-mapped address (::ffff:0.0.0.0/96)");
    expect_refused(policy, "::ffff:127.0.0.1",
                   "::ffff:127.0.0.1 is an IPv4-mapped address (::ffff:0.0.0.0/96)");
    expect_refused(policy, "::10.0.0.1", "::10.0.0.1 is an IPv4-compatible address (::/96)");
}

// Issue 11 point 17: an MX whose AAAA is 64:ff9b::a00:1 reaches 10.0.0.1 through a NAT64
// translator on an IPv6-only host, whatever the IPv4 checks say.
TEST(AddressPolicy, Nat64AddressesAreRefusedWhateverTheyEmbed) {
    AddressPolicy policy;
    expect_refused(policy, "64:ff9b::a00:1", "64:ff9b::a00:1 is a NAT64 address (64:ff9b::/96)");
    expect_refused(policy, "64:ff9b::7f00:1", "64:ff9b::7f00:1 is a NAT64 address (64:ff9b::/96)");
    expect_refused(policy, "64:ff9b::808:808",
                   "64:ff9b::808:808 is a NAT64 address (64:ff9b::/96)");
    expect_refused(policy, "64:ff9b::", "64:ff9b:: is a NAT64 address (64:ff9b::/96)");
    expect_refused(policy, "64:ff9b:1::a00:1",
                   "64:ff9b:1::a00:1 is a local-use NAT64 address (64:ff9b:1::/48)");
    expect_refused(policy, "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
                   "64:ff9b:1:ffff:ffff:ffff:ffff:ffff is a local-use NAT64 address "
                   "(64:ff9b:1::/48)");
    // Only the /96: the next address up is not NAT64 and is judged like any other.
    EXPECT_TRUE(policy.allows("64:ff9b:0:0:0:1::1"));
}

TEST(AddressPolicy, Nat64IsAllowedOnlyWhenTheOperatorAllowsIt) {
    AddressPolicy policy({"64:ff9b::/96"});
    EXPECT_TRUE(policy.allows("64:ff9b::808:808"));
    expect_refused(policy, "64:ff9b:1::808:808",
                   "64:ff9b:1::808:808 is a local-use NAT64 address (64:ff9b:1::/48)");
}

TEST(AddressPolicy, GarbageIsNotAnAddress) {
    AddressPolicy policy;
    expect_refused(policy, "", "\"\" is not an IP address");
    expect_refused(policy, "mx.example.com", "\"mx.example.com\" is not an IP address");
    expect_refused(policy, "10.0.0.1/8", "\"10.0.0.1/8\" is not an IP address");
    expect_refused(policy, "fe80::1%eth0", "\"fe80::1%eth0\" is not an IP address");
    expect_refused(policy, "1.2.3", "\"1.2.3\" is not an IP address");
}

TEST(AddressPolicy, AllowedNetworksOverrideTheRefusals) {
    AddressPolicy policy({"127.0.0.0/8", "fd00:1::/32"});
    EXPECT_TRUE(policy.allows("127.0.0.1"));
    EXPECT_TRUE(policy.allows("127.0.0.42"));
    EXPECT_TRUE(policy.allows("fd00:1::25"));
    expect_refused(policy, "fd00:2::25", "fd00:2::25 is a unique local address (fc00::/7)");
    expect_refused(policy, "10.0.0.1", "10.0.0.1 is a private address (10.0.0.0/8)");
    // A mapped form of an allowed IPv4 address is still not that address.
    expect_refused(policy, "::ffff:127.0.0.1",
                   "::ffff:127.0.0.1 is an IPv4-mapped address (::ffff:0.0.0.0/96)");
}

TEST(AddressPolicy, AllowedSingleHostAndOddPrefixes) {
    AddressPolicy policy({"10.1.2.3", "192.168.0.0/23"});
    EXPECT_TRUE(policy.allows("10.1.2.3"));
    EXPECT_FALSE(policy.allows("10.1.2.4"));
    EXPECT_TRUE(policy.allows("192.168.1.200"));
    EXPECT_FALSE(policy.allows("192.168.2.1"));
}

TEST(AddressPolicy, InvalidAllowedNetworkThrowsAtStartUp) {
    EXPECT_THROW(AddressPolicy({"127.0.0.0/33"}), std::invalid_argument);
    EXPECT_THROW(AddressPolicy({"::/129"}), std::invalid_argument);
    EXPECT_THROW(AddressPolicy({"localhost"}), std::invalid_argument);
    EXPECT_THROW(AddressPolicy({"10.0.0.0/"}), std::invalid_argument);
    EXPECT_THROW(AddressPolicy({"10.0.0.0/x"}), std::invalid_argument);
}

TEST(Network, ContainsComparesOnlyThePrefix) {
    auto network = Network::parse("10.0.0.0/9");
    ASSERT_TRUE(network);
    EXPECT_TRUE(network->contains(*Network::parse("10.127.255.255")));
    EXPECT_FALSE(network->contains(*Network::parse("10.128.0.0")));
    EXPECT_FALSE(network->contains(*Network::parse("::ffff:10.0.0.1")));
    EXPECT_TRUE(Network::parse("0.0.0.0/0")->contains(*Network::parse("8.8.8.8")));
    EXPECT_FALSE(Network::parse("0.0.0.0/0")->contains(*Network::parse("::1")));
}

}  // namespace
}  // namespace smarthost::dns
