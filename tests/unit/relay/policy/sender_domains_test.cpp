#include "relay/policy/sender_domains.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

TEST(SenderDomains, DomainOfIsLowerCaseWithoutTheRootDot) {
    EXPECT_EQ(domain_of("Alice@Shop.Example."), "shop.example");
    EXPECT_EQ(domain_of("\"a@b\"@shop.example"), "shop.example");
    EXPECT_EQ(domain_of("no-domain"), "");
}

TEST(SenderDomains, ExactDomainMatches) {
    const SenderDomain entry{"shop.example", false, true};
    EXPECT_TRUE(domain_matches(entry, "shop.example", true));
    EXPECT_FALSE(domain_matches(entry, "mail.shop.example", true));
    EXPECT_FALSE(domain_matches(entry, "example", true));
}

TEST(SenderDomains, SubdomainsMatchOnlyWhenIncluded) {
    const SenderDomain entry{"shop.example", true, true};
    EXPECT_TRUE(domain_matches(entry, "shop.example", true));
    EXPECT_TRUE(domain_matches(entry, "mail.shop.example", true));
    EXPECT_TRUE(domain_matches(entry, "a.b.shop.example", true));
}

TEST(SenderDomains, ASuffixThatIsNotALabelBoundaryDoesNotMatch) {
    const SenderDomain entry{"shop.example", true, true};
    EXPECT_FALSE(domain_matches(entry, "badshop.example", true));
    EXPECT_FALSE(domain_matches(entry, ".shop.example", true));
    EXPECT_FALSE(domain_matches(entry, "shop.example.evil", true));
}

TEST(SenderDomains, UnverifiedDomainsAuthorizeOnlyWithoutVerification) {
    const SenderDomain entry{"shop.example", false, false};
    EXPECT_FALSE(domain_matches(entry, "shop.example", true));
    EXPECT_TRUE(domain_matches(entry, "shop.example", false));
}

TEST(SenderDomains, AuthorizedWhenAnyEntryMatches) {
    const std::vector<SenderDomain> entries{{"one.example", false, true},
                                            {"two.example", true, true}};
    EXPECT_TRUE(domain_authorized(entries, "one.example", true));
    EXPECT_TRUE(domain_authorized(entries, "x.two.example", true));
    EXPECT_FALSE(domain_authorized(entries, "x.one.example", true));
    EXPECT_FALSE(domain_authorized({}, "one.example", false));
    EXPECT_FALSE(domain_authorized(entries, "", true));
}

}  // namespace
}  // namespace smarthost::policy
