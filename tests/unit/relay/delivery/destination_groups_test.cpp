#include "relay/delivery/destination_groups.hpp"

#include <gtest/gtest.h>

namespace smarthost::delivery {
namespace {

DestinationGroups shipped() {
    return DestinationGroups(default_destination_groups());
}

TEST(DestinationGroups, ARecipientDomainListedInAGroupChoosesIt) {
    const auto groups = shipped();
    ASSERT_NE(groups.for_domain("gmail.com"), nullptr);
    EXPECT_EQ(groups.for_domain("GoogleMail.COM.")->name, "gmail");
    EXPECT_EQ(groups.for_domain("hotmail.com")->name, "microsoft");
    EXPECT_EQ(groups.for_domain("aol.com")->name, "yahoo");
    EXPECT_EQ(groups.for_domain("mail.gmail.com"), nullptr);  // exact domains only
    EXPECT_EQ(groups.for_domain("example.org"), nullptr);
}

TEST(DestinationGroups, AnMxHostChoosesTheGroupOfItsLongestSuffix) {
    const auto groups = shipped();
    EXPECT_EQ(groups.for_mx_host("aspmx.l.google.com")->name, "gmail");
    EXPECT_EQ(groups.for_mx_host("ALT1.ASPMX.L.GOOGLE.COM.")->name, "gmail");
    EXPECT_EQ(groups.for_mx_host("example-org.mail.protection.outlook.com")->name, "microsoft");
    EXPECT_EQ(groups.for_mx_host("mta5.am0.yahoodns.net")->name, "yahoo");
    EXPECT_EQ(groups.for_mx_host("google.com"), nullptr);     // the suffix needs a label before
    EXPECT_EQ(groups.for_mx_host("notgoogle.com"), nullptr);  // a label boundary
    EXPECT_EQ(groups.for_mx_host("mx.example.org"), nullptr);

    DestinationGroupConfig wide;
    wide.name = "wide";
    wide.mx_suffixes = {".example"};
    DestinationGroupConfig narrow;
    narrow.name = "narrow";
    narrow.mx_suffixes = {".mx.isp.example"};
    const DestinationGroups nested({wide, narrow});
    EXPECT_EQ(nested.for_mx_host("a.mx.isp.example")->name, "narrow");
    EXPECT_EQ(nested.for_mx_host("a.other.example")->name, "wide");
}

TEST(DestinationGroups, TheDomainDecidesBeforeTheMxHosts) {
    const auto groups = shipped();
    // A Google-hosted domain, by its first MX host.
    EXPECT_EQ(groups.choose("customer.example", {"aspmx.l.google.com", "mx.other.example"})->name,
              "gmail");
    // Only the first MX host counts: a backup MX elsewhere does not make it Gmail's.
    EXPECT_EQ(groups.choose("customer.example", {"mx.customer.example", "aspmx.l.google.com"}),
              nullptr);
    // Listed domains do not need the MX hosts.
    EXPECT_EQ(groups.choose("outlook.com", {"aspmx.l.google.com"})->name, "microsoft");
    EXPECT_EQ(groups.choose("customer.example", {}), nullptr);
    EXPECT_TRUE(groups.has_mx_suffixes());
    EXPECT_FALSE(DestinationGroups({}).has_mx_suffixes());
}

TEST(DestinationGroups, AConnectionIsSpentAfterTheGroupsMessagesPerConnection) {
    DestinationGroupConfig group;
    group.messages_per_connection = 3;
    EXPECT_FALSE(connection_spent(&group, 2));
    EXPECT_TRUE(connection_spent(&group, 3));
    group.messages_per_connection = 0;
    EXPECT_FALSE(connection_spent(&group, 1000));
    EXPECT_FALSE(connection_spent(nullptr, 1000));
}

}  // namespace
}  // namespace smarthost::delivery
