#include "admin-api/mail_names.hpp"

#include <gtest/gtest.h>

namespace smarthost::admin {
namespace {

std::optional<std::string> domain(std::string_view text) {
    std::string why;
    auto result = canonical_domain(text, why);
    if (!result) {
        EXPECT_FALSE(why.empty()) << text;
    }
    return result;
}

std::optional<std::string> address(std::string_view text) {
    std::string why;
    auto result = canonical_address(text, why);
    if (!result) {
        EXPECT_FALSE(why.empty()) << text;
    }
    return result;
}

TEST(MailNames, DomainsAreLowerCasedWithoutTheTrailingDot) {
    EXPECT_EQ(domain("Example.COM"), "example.com");
    EXPECT_EQ(domain("mail.shop-1.example."), "mail.shop-1.example");
    EXPECT_EQ(domain("xn--caf-dma.example"), "xn--caf-dma.example");
}

TEST(MailNames, DomainsNeedTwoLdhLabels) {
    for (const auto* bad :
         {"", ".", "localhost", "exa mple.com", "-shop.example", "shop-.example", "a..example",
          "shop_1.example", "1.2.3.4", "[192.0.2.1]", "user@example.com", "caf\xc3\xa9.example"})
        EXPECT_EQ(domain(bad), std::nullopt) << bad;
    EXPECT_EQ(domain(std::string(64, 'a') + ".example"), std::nullopt);  // label > 63
}

TEST(MailNames, DomainsAreAtMost253Characters) {
    const std::string label(63, 'a');
    const std::string longest = label + "." + label + "." + label + "." + std::string(61, 'b');
    ASSERT_EQ(longest.size(), 253u);
    EXPECT_EQ(domain(longest), longest);
    EXPECT_EQ(domain(longest + "b"), std::nullopt);
}

TEST(MailNames, AddressesAreLowerCased) {
    EXPECT_EQ(address("Bob.Smith@Example.ORG"), "bob.smith@example.org");
    EXPECT_EQ(address("\"quoted name\"@example.org"), "\"quoted name\"@example.org");
    EXPECT_EQ(address("ops@[192.0.2.1]"), "ops@[192.0.2.1]");
}

TEST(MailNames, AddressesAreCanonicalLikeTheSuppressionLookup) {
    EXPECT_EQ(address("\"Bob\"@Example.ORG"), "bob@example.org");
    EXPECT_EQ(address("\"b\\ob\"@example.org"), "bob@example.org");
    // Longer local parts than RFC 5321's 64 octets: a listener may accept them.
    EXPECT_EQ(address(std::string(100, 'a') + "@example.org"),
              std::string(100, 'a') + "@example.org");
}

TEST(MailNames, MalformedAddressesAreRefused) {
    for (const auto* bad :
         {"", "bob", "bob@", "@example.org", "bob@@example.org", "bob smith@example.org",
          "<bob@example.org>", "bob@example..org", "@relay.example:bob@example.org"})
        EXPECT_EQ(address(bad), std::nullopt) << bad;
    EXPECT_EQ(address(std::string(250, 'a') + "@example.org"), std::nullopt);
}

}  // namespace
}  // namespace smarthost::admin
