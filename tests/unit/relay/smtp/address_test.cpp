#include "relay/smtp/address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace smarthost::smtp {
namespace {

MailboxError parse(std::string_view path, Mailbox& out, bool utf8 = false) {
    return parse_mailbox(path, utf8, out);
}

TEST(Address, ParsesDotStringMailbox) {
    Mailbox m;
    ASSERT_EQ(parse("john.doe+tag@Example.COM", m), MailboxError::none);
    EXPECT_EQ(m.local_part, "john.doe+tag");
    EXPECT_EQ(m.domain, "Example.COM");
    EXPECT_EQ(m.address(), "john.doe+tag@Example.COM");
}

TEST(Address, ParsesQuotedLocalPartWithAtSign) {
    Mailbox m;
    ASSERT_EQ(parse(R"("a@b"@c.example)", m), MailboxError::none);
    EXPECT_EQ(m.local_part, R"("a@b")");
    EXPECT_EQ(m.domain, "c.example");
}

TEST(Address, QuotedLocalPartAllowsEscapesAndSpaces) {
    Mailbox m;
    EXPECT_EQ(parse(R"("john \"j\" doe"@x.example)", m), MailboxError::none);
    EXPECT_EQ(parse(R"("unterminated@x.example)", m), MailboxError::syntax);
    EXPECT_EQ(parse(R"("a"b"@x.example)", m), MailboxError::syntax);
    EXPECT_EQ(parse(R"("a\"@x.example)", m), MailboxError::syntax);
}

TEST(Address, PercentAndBangAreLocalPartCharacters) {
    Mailbox m;
    ASSERT_EQ(parse("user%other.example@relay.example", m), MailboxError::none);
    EXPECT_EQ(m.domain, "relay.example");
    ASSERT_EQ(parse("host!user@relay.example", m), MailboxError::none);
    EXPECT_EQ(m.local_part, "host!user");
}

TEST(Address, SourceRouteIsDropped) {
    Mailbox m;
    ASSERT_EQ(parse("@a.example,@b.example:user@c.example", m), MailboxError::none);
    EXPECT_EQ(m.address(), "user@c.example");
    EXPECT_EQ(parse("@a.example:", m), MailboxError::syntax);
    EXPECT_EQ(parse("@a.example", m), MailboxError::syntax);
    EXPECT_EQ(parse("@:user@c.example", m), MailboxError::syntax);
    EXPECT_EQ(parse("@a.example,b.example:user@c.example", m), MailboxError::syntax);
}

TEST(Address, BareLocalPartHasNoDomain) {
    Mailbox m;
    EXPECT_EQ(parse("postmaster", m), MailboxError::no_domain);
    EXPECT_EQ(m.local_part, "postmaster");
}

TEST(Address, RejectsMalformedMailboxes) {
    Mailbox m;
    for (const char* bad : {"user@",
                            "@example.com",
                            "user@example.com.",
                            "user@.example.com",
                            "user@exa..mple.com",
                            ".user@example.com",
                            "user.@example.com",
                            "us..er@example.com",
                            "us er@example.com",
                            "user@-example.com",
                            "user@example-.com",
                            "user@exa_mple.com",
                            "user@@example.com",
                            "user@example.com@other.example",
                            "user@[1.2.3]",
                            "user@[256.1.1.1]",
                            "user@[IPv6:1::2::3]",
                            "user@[tag:stuff]",
                            "user@[]",
                            "us\x01er@example.com",
                            "user@example.com>",
                            "üser@example.com"}) {
        EXPECT_EQ(parse(bad, m), MailboxError::syntax) << bad;
    }
}

TEST(Address, AcceptsAddressLiterals) {
    Mailbox m;
    for (const char* good :
         {"u@[192.0.2.1]", "u@[IPv6:2001:db8::1]", "u@[IPv6:::1]", "u@[IPv6:1:2:3:4:5:6:7:8]",
          "u@[IPv6:::ffff:192.0.2.1]", "u@[ipv6:2001:db8::]"}) {
        EXPECT_EQ(parse(good, m), MailboxError::none) << good;
    }
    for (const char* bad : {"u@[IPv6:1:2:3:4:5:6:7]", "u@[IPv6:1:2:3:4:5:6:7:8:9]",
                            "u@[IPv6:1:2:3:4:5:6:7::8]", "u@[IPv6:12345::]"}) {
        EXPECT_EQ(parse(bad, m), MailboxError::syntax) << bad;
    }
}

TEST(Address, PathOver256OctetsIsTooLong) {
    Mailbox m;
    std::string domain = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                         std::string(60, 'c') + "." + std::string(60, 'd') + ".example";
    std::string local(255 - 1 - domain.size() - 1, 'x');  // total 254 + brackets = 256
    EXPECT_EQ(parse(local + "@" + domain, m), MailboxError::none);
    EXPECT_EQ(parse(local + "x@" + domain, m), MailboxError::path_too_long);
}

TEST(Address, LocalPartOver64OctetsIsTooLong) {
    Mailbox m;
    EXPECT_EQ(parse(std::string(64, 'x') + "@example.org", m), MailboxError::none);
    EXPECT_EQ(parse(std::string(65, 'x') + "@example.org", m), MailboxError::local_part_too_long);
    // Octets as written: the quotes count, and so does a local part without a domain.
    EXPECT_EQ(parse("\"" + std::string(63, 'x') + "\"@example.org", m),
              MailboxError::local_part_too_long);
    EXPECT_EQ(parse(std::string(65, 'x'), m), MailboxError::local_part_too_long);
    // UTF-8 is measured in octets, not characters: 33 two-octet characters are 66 octets.
    std::string umlauts;
    for (int i = 0; i < 33; ++i)
        umlauts += "\xc3\xbc";
    EXPECT_EQ(parse(umlauts + "@example.org", m, true), MailboxError::local_part_too_long);
}

TEST(Address, RaisedLimitsAcceptLongerLocalPartsAndPaths) {
    Mailbox m;
    const std::string srs = "SRS0=HHH=TT=legacy.example=" + std::string(80, 'u');
    AddressLimits legacy{128, 300};
    EXPECT_EQ(parse_mailbox(srs + "@forwarder.example", false, m),
              MailboxError::local_part_too_long);
    ASSERT_EQ(parse_mailbox(srs + "@forwarder.example", false, m, legacy), MailboxError::none);
    EXPECT_EQ(m.local_part, srs);
    const std::string domain = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                               std::string(60, 'c') + "." + std::string(60, 'd') + ".example";
    EXPECT_EQ(parse_mailbox(std::string(40, 'x') + "@" + domain, false, m, legacy),
              MailboxError::none);
    EXPECT_EQ(parse_mailbox(std::string(60, 'x') + "@" + domain, false, m, legacy),
              MailboxError::path_too_long);
}

TEST(Address, DomainOver255OctetsIsTooLongWhateverThePathLimit) {
    Mailbox m;
    std::string domain;
    while (domain.size() < 256)
        domain += std::string(50, 'd') + ".";
    domain += "example";
    EXPECT_EQ(parse_mailbox("x@" + domain, false, m, AddressLimits{64, 512}),
              MailboxError::domain_too_long);
}

// Issue 11 point 13: suppressions compare this form, so one mailbox has one spelling.
TEST(Address, CanonicalAddressDropsNeedlessQuotesAndFoldsCase) {
    EXPECT_EQ(canonical_address("\"bob\"@example.org"), "bob@example.org");
    EXPECT_EQ(canonical_address("\"Bob.Smith\"@Example.ORG"), "bob.smith@example.org");
    EXPECT_EQ(canonical_address("\"b\\ob\"@example.org"), "bob@example.org");
    EXPECT_EQ(canonical_address("bob@example.org"), "bob@example.org");
    // Quotes that are needed stay, with only the escapes they need.
    EXPECT_EQ(canonical_address("\"Bob Smith\"@example.org"), "\"bob smith\"@example.org");
    EXPECT_EQ(canonical_address("\"a\\@b\"@example.org"), "\"a@b\"@example.org");
    EXPECT_EQ(canonical_address("\"a\\\"b\"@example.org"), "\"a\\\"b\"@example.org");
    EXPECT_EQ(canonical_address("\"a..b\"@example.org"), "\"a..b\"@example.org");
    EXPECT_EQ(canonical_address("\"\"@example.org"), "\"\"@example.org");
    // Address literals are only lower-cased.
    EXPECT_EQ(canonical_address("Ops@[IPv6:2001:DB8::1]"), "ops@[ipv6:2001:db8::1]");
    // A source route is not part of the mailbox.
    EXPECT_EQ(canonical_address("@relay.example:Bob@example.org"), "bob@example.org");
}

TEST(Address, CanonicalAddressWritesUnicodeDomainsAsALabels) {
    EXPECT_EQ(canonical_address("jörg@Bücher.Example"), "jörg@xn--bcher-kva.example");
    EXPECT_EQ(canonical_address("jörg@XN--BCHER-KVA.example"), "jörg@xn--bcher-kva.example");
    EXPECT_EQ(canonical_address("\"jörg\"@mail.münchen.example"),
              "jörg@mail.xn--mnchen-3ya.example");
    // No Unicode case mapping or NFC: "BÜCHER" is no valid IDNA2008 U-label.
    EXPECT_NE(canonical_address("a@BÜCHER.example"), canonical_address("a@bücher.example"));
}

TEST(Address, CanonicalAddressHasNoLengthLimits) {
    const std::string long_local(100, 'L');
    EXPECT_EQ(canonical_address("\"" + long_local + "\"@Example.org"),
              std::string(100, 'l') + "@example.org");
}

TEST(Address, CanonicalFormOfWhatIsNoAddressIsItsLowerCase) {
    EXPECT_EQ(canonical_address("Not An Address"), "not an address");
    EXPECT_EQ(canonical_address(""), "");
}

TEST(Address, LabelsAreAtMost63Octets) {
    EXPECT_TRUE(is_domain(std::string(63, 'a') + ".example"));
    EXPECT_FALSE(is_domain(std::string(64, 'a') + ".example"));
}

TEST(Address, Utf8OnlyWithSmtputf8) {
    Mailbox m;
    EXPECT_EQ(parse("jöran@bücher.example", m, false), MailboxError::syntax);
    EXPECT_EQ(parse("jöran@bücher.example", m, true), MailboxError::none);
    EXPECT_EQ(parse("j\xc3@example.com", m, true), MailboxError::syntax);      // truncated UTF-8
    EXPECT_EQ(parse("j\xc0\xaf@example.com", m, true), MailboxError::syntax);  // overlong
}

TEST(Address, EhloNamesMayHaveUnderscores) {
    EXPECT_TRUE(is_domain("DESKTOP_1", true));
    EXPECT_FALSE(is_domain("DESKTOP_1", false));
}

TEST(Address, Utf8Validation) {
    EXPECT_TRUE(is_valid_utf8("plain"));
    EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac"));
    EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\x80"));
}

}  // namespace
}  // namespace smarthost::smtp
