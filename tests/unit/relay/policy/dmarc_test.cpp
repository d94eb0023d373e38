// DMARC records (RFC 7489 section 6.3), the organizational domain from the Public Suffix
// List, and identifier alignment.

#include "relay/policy/dmarc.hpp"

#include <gtest/gtest.h>

#include "relay/policy/public_suffixes.hpp"

namespace smarthost::policy {
namespace {

constexpr std::string_view k_list = R"(// ===BEGIN ICANN DOMAINS===
com
uk
co.uk
// wildcard and exception, as for .ck
*.ck
!www.ck
)";

TEST(DmarcRecord, ParsesTheRfcExample) {
    // RFC 7489 appendix B.2.1.
    const auto parsed = parse_dmarc("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
    ASSERT_TRUE(parsed.record) << parsed.error;
    EXPECT_TRUE(parsed.error.empty());
    EXPECT_EQ(parsed.record->policy, DmarcPolicy::none);
    EXPECT_EQ(parsed.record->dkim_alignment, Alignment::relaxed);
    EXPECT_EQ(parsed.record->percent, 100);
    ASSERT_EQ(parsed.record->rua.size(), 1u);
    EXPECT_EQ(parsed.record->rua[0], "mailto:dmarc-feedback@example.com");
}

TEST(DmarcRecord, ReadsEveryTag) {
    const auto parsed = parse_dmarc(
        "v=DMARC1;p=Quarantine; sp=reject ; adkim=s; aspf=s; pct=25; "
        "rua=mailto:a@example.com!10m,mailto:b@example.net; fo=1; ruf=mailto:f@example.com;");
    ASSERT_TRUE(parsed.record) << parsed.error;
    EXPECT_TRUE(parsed.error.empty()) << parsed.error;
    const auto& record = *parsed.record;
    EXPECT_EQ(record.policy, DmarcPolicy::quarantine);
    EXPECT_EQ(record.subdomain_policy, DmarcPolicy::reject);
    EXPECT_EQ(record.dkim_alignment, Alignment::strict);
    EXPECT_EQ(record.spf_alignment, Alignment::strict);
    EXPECT_EQ(record.percent, 25);
    EXPECT_EQ(record.rua.size(), 2u);
}

TEST(DmarcRecord, VersionMustComeFirstAndMatchExactly) {
    EXPECT_TRUE(is_dmarc_record("v=DMARC1; p=reject"));
    EXPECT_FALSE(is_dmarc_record("p=reject; v=DMARC1"));
    EXPECT_FALSE(is_dmarc_record("v=dmarc1; p=reject"));
    EXPECT_FALSE(is_dmarc_record("v=spf1 -all"));
    EXPECT_FALSE(parse_dmarc("p=reject; v=DMARC1").record);
    EXPECT_FALSE(parse_dmarc("v=DMARC2; p=reject").record);
}

TEST(DmarcRecord, InvalidRecordsSayWhy) {
    for (const char* record : {
             "v=DMARC1",                     // no p=
             "v=DMARC1; p=block",            // unknown policy
             "v=DMARC1; sp=none; p=reject",  // p= not right after v=
             "v=DMARC1; p=reject; junk",     // not tag=value
         }) {
        const auto parsed = parse_dmarc(record);
        EXPECT_FALSE(parsed.record) << record;
        EXPECT_FALSE(parsed.error.empty()) << record;
    }
}

TEST(DmarcRecord, BadOptionalTagsAreReportedButTheRecordStands) {
    const auto parsed = parse_dmarc("v=DMARC1; p=reject; adkim=x; pct=150");
    ASSERT_TRUE(parsed.record);
    EXPECT_EQ(parsed.record->policy, DmarcPolicy::reject);
    EXPECT_EQ(parsed.record->dkim_alignment, Alignment::relaxed);
    EXPECT_EQ(parsed.record->percent, 100);
    EXPECT_NE(parsed.error.find("adkim=x"), std::string::npos);
}

TEST(DmarcRecord, BadPolicyWithReportAddressCountsAsNone) {
    // RFC 7489 section 6.6.3.
    const auto parsed = parse_dmarc("v=DMARC1; p=bogus; rua=mailto:r@example.com");
    ASSERT_TRUE(parsed.record);
    EXPECT_EQ(parsed.record->policy, DmarcPolicy::none);
    EXPECT_TRUE(parsed.record->policy_defaulted);
    EXPECT_FALSE(parsed.error.empty());
}

TEST(DmarcRecord, MalformedReportUrisAreReported) {
    const auto parsed = parse_dmarc("v=DMARC1; p=none; rua=reports@example.com");
    ASSERT_TRUE(parsed.record);
    EXPECT_TRUE(parsed.record->rua.empty());
    EXPECT_NE(parsed.error.find("rua="), std::string::npos);
}

TEST(DmarcOrganizationalDomain, ComesFromThePublicSuffixList) {
    const auto list = PublicSuffixList::parse(k_list);
    EXPECT_EQ(list.organizational_domain("mail.shop.example.com"), "example.com");
    EXPECT_EQ(list.organizational_domain("shop.example.co.uk"), "example.co.uk");
    EXPECT_EQ(list.organizational_domain("example.co.uk"), "example.co.uk");
    EXPECT_EQ(list.organizational_domain("co.uk"), "co.uk");
    EXPECT_EQ(list.organizational_domain("Mail.Example.COM"), "example.com");
    // Not listed: the default rule "*" (the last label is the suffix).
    EXPECT_EQ(list.organizational_domain("a.b.shop.test"), "shop.test");
}

TEST(DmarcOrganizationalDomain, WildcardsAndExceptions) {
    const auto list = PublicSuffixList::parse(k_list);
    EXPECT_EQ(list.organizational_domain("a.shop.example.ck"), "shop.example.ck");
    EXPECT_EQ(list.organizational_domain("www.ck"), "www.ck");
    EXPECT_EQ(list.organizational_domain("mail.www.ck"), "www.ck");
}

TEST(DmarcOrganizationalDomain, WithoutAListTheLastTwoLabels) {
    const PublicSuffixList list;
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(list.organizational_domain("mail.shop.example.com"), "example.com");
    EXPECT_EQ(list.organizational_domain("example"), "example");
}

TEST(DmarcAlignment, StrictNeedsTheSameNameRelaxedTheSameOrganization) {
    const auto list = PublicSuffixList::parse(k_list);
    EXPECT_TRUE(aligned("example.com", "example.com", Alignment::strict, list));
    EXPECT_TRUE(aligned("Example.com", "example.COM", Alignment::strict, list));
    EXPECT_FALSE(aligned("example.com", "news.example.com", Alignment::strict, list));
    EXPECT_TRUE(aligned("example.com", "news.example.com", Alignment::relaxed, list));
    EXPECT_TRUE(aligned("bounces.example.com", "news.example.com", Alignment::relaxed, list));
    EXPECT_FALSE(aligned("example.net", "example.com", Alignment::relaxed, list));
    // Two customers under one public suffix are not aligned.
    EXPECT_FALSE(aligned("alice.co.uk", "bob.co.uk", Alignment::relaxed, list));
}

}  // namespace
}  // namespace smarthost::policy
