// The pure parts of the DNS blocklist checks: query names, answer matching, lookup URLs,
// and which action wins with which reply.

#include "relay/policy/dnsbl.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace smarthost::policy {
namespace {

TEST(ReversedAddress, Ipv4OctetsAreReversed) {
    EXPECT_EQ(reversed_address("192.0.2.99"), "99.2.0.192");
    EXPECT_EQ(reversed_address("127.0.0.2"), "2.0.0.127");
}

TEST(ReversedAddress, Ipv4MappedIpv6IsLookedUpAsIpv4) {
    EXPECT_EQ(reversed_address("::ffff:192.0.2.99"), "99.2.0.192");
}

TEST(ReversedAddress, Ipv6IsReversedNibbles) {
    // RFC 5782 section 2.4's example.
    EXPECT_EQ(reversed_address("2001:db8:1:2:3:4:567:89ab"),
              "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2");
    std::string loopback = "1";
    for (int i = 0; i < 31; ++i)
        loopback += ".0";
    EXPECT_EQ(reversed_address("::1"), loopback);
}

TEST(ReversedAddress, NotAnAddress) {
    EXPECT_EQ(reversed_address("example.org"), std::nullopt);
    EXPECT_EQ(reversed_address(""), std::nullopt);
    EXPECT_EQ(reversed_address("256.0.0.1"), std::nullopt);
}

TEST(ListedAnswers, DefaultIsAny127Slash8Answer) {
    const ListedAnswers any({});
    EXPECT_EQ(any.listed({"127.0.0.2"}), "127.0.0.2");
    EXPECT_EQ(any.listed({"127.255.255.254"}), "127.255.255.254");
    EXPECT_EQ(any.listed({"192.0.2.1"}), std::nullopt);  // e.g. an NXDOMAIN-redirecting resolver
    EXPECT_EQ(any.listed({}), std::nullopt);
}

TEST(ListedAnswers, AddressesAndNetworks) {
    const ListedAnswers some({"127.0.0.2", "127.0.1.0/24"});
    EXPECT_EQ(some.listed({"127.0.0.2"}), "127.0.0.2");
    EXPECT_EQ(some.listed({"127.0.0.3"}), std::nullopt);
    EXPECT_EQ(some.listed({"127.0.0.3", "127.0.1.9"}), "127.0.1.9");
}

TEST(ListedAnswers, BadEntryNamesIt) {
    try {
        ListedAnswers bad({"127.0.0.2", "not-an-address"});
        FAIL() << "accepted a bad entry";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("not-an-address"), std::string::npos);
    }
}

TEST(LookupUrl, PlaceholdersAreFilled) {
    EXPECT_EQ(lookup_url("https://check.example/?ip={ip}", "192.0.2.1"),
              "https://check.example/?ip=192.0.2.1");
    EXPECT_EQ(lookup_url("https://dbl.example/{domain}/{domain}", "spam.example"),
              "https://dbl.example/spam.example/spam.example");
    EXPECT_EQ(lookup_url("", "192.0.2.1"), "");
}

BlocklistHit hit(std::string zone, BlocklistAction action, bool suspicious = false) {
    return BlocklistHit{std::move(zone), action, "127.0.0.2", "", suspicious};
}

TEST(BlocklistResult, StrongestActionWins) {
    BlocklistResult result;
    EXPECT_EQ(result.strongest(), nullptr);
    result.hits = {hit("a.test", BlocklistAction::tag), hit("b.test", BlocklistAction::tempfail)};
    EXPECT_EQ(result.strongest()->zone, "b.test");
    result.hits.push_back(hit("c.test", BlocklistAction::reject));
    EXPECT_EQ(result.strongest()->zone, "c.test");
}

TEST(BlocklistResult, TagSummaryAndSuspicion) {
    BlocklistResult result;
    result.hits = {hit("a.test", BlocklistAction::tag), hit("b.test", BlocklistAction::tempfail),
                   hit("c.test", BlocklistAction::tag, true)};
    EXPECT_EQ(result.tag_summary(), "a.test=127.0.0.2, c.test=127.0.0.2");
    EXPECT_TRUE(result.auth_suspicious());
    result.hits.pop_back();
    EXPECT_FALSE(result.auth_suspicious());
}

TEST(BlocklistReplies, ClientRejectIs554AtConnectTempfailIs451AtMail) {
    auto reject = hit("bl.test", BlocklistAction::reject);
    reject.url = "https://bl.test/192.0.2.1";
    const auto greeting = client_refusal_at_connect(reject, "192.0.2.1");
    ASSERT_TRUE(greeting);
    EXPECT_EQ(greeting->wire(),
              "554 5.7.1 Client address 192.0.2.1 is listed in bl.test: see "
              "https://bl.test/192.0.2.1\r\n");
    EXPECT_FALSE(client_refusal_at_mail(reject, "192.0.2.1"));

    const auto tempfail = hit("tf.test", BlocklistAction::tempfail);
    EXPECT_FALSE(client_refusal_at_connect(tempfail, "192.0.2.1"));
    EXPECT_EQ(client_refusal_at_mail(tempfail, "192.0.2.1")->wire(),
              "451 4.7.1 Client address 192.0.2.1 is listed in tf.test\r\n");

    const auto tag = hit("tag.test", BlocklistAction::tag);
    EXPECT_FALSE(client_refusal_at_connect(tag, "192.0.2.1"));
    EXPECT_FALSE(client_refusal_at_mail(tag, "192.0.2.1"));
}

TEST(BlocklistReplies, SenderDomainRejectIs550TempfailIs451) {
    EXPECT_EQ(
        sender_domain_refusal(hit("dbl.test", BlocklistAction::reject), "spam.example")->wire(),
        "550 5.7.1 Sender domain spam.example is listed in dbl.test\r\n");
    EXPECT_EQ(
        sender_domain_refusal(hit("dbl.test", BlocklistAction::tempfail), "spam.example")->code,
        451);
    EXPECT_FALSE(sender_domain_refusal(hit("dbl.test", BlocklistAction::tag), "spam.example"));
}

}  // namespace
}  // namespace smarthost::policy
