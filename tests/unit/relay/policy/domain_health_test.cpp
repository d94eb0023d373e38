// The health verdict of a sender domain from its keys and DNS answers: each finding, the
// alignment booleans, and what the decision asks the DNS for.

#include "relay/policy/domain_health.hpp"

#include <gtest/gtest.h>

#include "relay/policy/public_suffixes.hpp"

namespace smarthost::policy {
namespace {

constexpr const char* k_key = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
constexpr const char* k_other_key = "MCowBQYDK2VwAyEAoS8y2Jdt9XX4Pf1kCqKLIpLCwkGfHMt0m7rD/3v4Jk4=";

dns::TxtAnswer txt(std::vector<std::string> records) {
    dns::TxtAnswer answer;
    answer.status = records.empty() ? dns::AnswerStatus::nxdomain : dns::AnswerStatus::ok;
    answer.records = std::move(records);
    return answer;
}

dns::TxtAnswer timed_out() {
    dns::TxtAnswer answer;
    answer.status = dns::AnswerStatus::timeout;
    return answer;
}

class DomainHealthTest : public ::testing::Test {
  protected:
    DomainHealthTest() {
        input_.domain = "shop.example";
        input_.keys.push_back(DkimKeyFacts{"sh2026q4", "ed25519-sha256", k_key, true});
        relay_.outbound_addresses.push_back(*Network::parse("192.0.2.25"));
        facts_.add_txt("shop.example", txt({"v=spf1 ip4:192.0.2.0/24 -all"}));
        facts_.add_txt("_dmarc.shop.example", txt({"v=DMARC1; p=reject"}));
        facts_.add_txt("sh2026q4._domainkey.shop.example",
                       txt({std::string("v=DKIM1; k=ed25519; p=") + k_key}));
    }

    DomainHealth assess() const { return assess_domain_health(input_, relay_, facts_, list_); }

    static std::vector<std::string> codes(const DomainHealth& health) {
        std::vector<std::string> out;
        for (const auto& finding : health.findings)
            out.push_back(finding.code);
        return out;
    }

    DomainHealthInput input_;
    RelayIdentity relay_;
    DnsFacts facts_;
    PublicSuffixList list_;
};

TEST_F(DomainHealthTest, HealthyDomainHasNoFindingsAndPassesDmarc) {
    const auto health = assess();
    EXPECT_TRUE(health.findings.empty()) << health.findings.front().message;
    EXPECT_TRUE(health.missing.empty());
    EXPECT_TRUE(health.dkim_aligned);
    EXPECT_TRUE(health.spf_aligned);
    EXPECT_TRUE(health.dmarc_pass);
    EXPECT_EQ(health.spf_result, SpfResult::pass);
    EXPECT_EQ(health.dmarc_policy, DmarcPolicy::reject);
    ASSERT_EQ(health.keys.size(), 1u);
    EXPECT_EQ(health.keys[0].status, DkimRecordStatus::published);
    EXPECT_EQ(health.keys[0].record_name, "sh2026q4._domainkey.shop.example");
}

TEST_F(DomainHealthTest, AsksForEveryRecordItNeeds) {
    facts_ = DnsFacts();
    const auto health = assess();
    std::vector<std::string> names;
    for (const auto& question : health.missing)
        names.push_back(question.name);
    EXPECT_EQ(names,
              (std::vector<std::string>{"_dmarc.shop.example", "sh2026q4._domainkey.shop.example",
                                        "shop.example"}));
    // Provisional: no verdict on alignment while answers are missing.
    EXPECT_FALSE(health.has(health_code::dmarc_would_fail));
}

TEST_F(DomainHealthTest, MissingSpfRecordSuggestsOne) {
    facts_.add_txt("shop.example", txt({"google-site-verification=x"}));
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"spf_missing"});
    EXPECT_NE(health.findings[0].message.find("v=spf1 ip4:192.0.2.25 ~all"), std::string::npos)
        << health.findings[0].message;
    EXPECT_FALSE(health.spf_aligned);
    EXPECT_TRUE(health.dmarc_pass);  // DKIM carries it
}

TEST_F(DomainHealthTest, TwoSpfRecords) {
    facts_.add_txt("shop.example", txt({"v=spf1 -all", "v=spf1 ip4:192.0.2.0/24 -all"}));
    EXPECT_EQ(codes(assess()), std::vector<std::string>{"spf_multiple"});
}

TEST_F(DomainHealthTest, MalformedSpfRecord) {
    facts_.add_txt("shop.example", txt({"v=spf1 ip4:192.0.2.0/33 -all"}));
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"spf_invalid"});
    EXPECT_EQ(health.findings[0].record, "shop.example");
}

TEST_F(DomainHealthTest, SpfNotCoveringTheRelayNamesTheMechanismToAdd) {
    facts_.add_txt("shop.example", txt({"v=spf1 ip4:198.51.100.0/24 -all"}));
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"spf_does_not_authorize_relay"});
    EXPECT_NE(health.findings[0].message.find("ip4:192.0.2.25"), std::string::npos);
    EXPECT_EQ(health.spf_result, SpfResult::fail);
}

TEST_F(DomainHealthTest, TheConfiguredIncludeNameAuthorizesTheRelay) {
    relay_.spf_include = "_spf.relay.example";
    facts_.add_txt("shop.example", txt({"v=spf1 include:_spf.relay.example -all"}));
    auto health = assess();
    EXPECT_TRUE(health.spf_aligned);
    EXPECT_TRUE(health.findings.empty());

    facts_.add_txt("shop.example", txt({"v=spf1 mx -all"}));
    facts_.add_mx("shop.example", dns::MxAnswer{dns::AnswerStatus::nodata, {}, 0, 0});
    health = assess();
    ASSERT_TRUE(health.has(health_code::spf_does_not_authorize_relay));
    EXPECT_NE(health.findings[0].message.find("include:_spf.relay.example"), std::string::npos);
}

TEST_F(DomainHealthTest, IncludeChainFollowedToTheRelaysAddress) {
    facts_.add_txt("shop.example", txt({"v=spf1 include:_spf.host.example ~all"}));
    auto health = assess();
    ASSERT_EQ(health.missing.size(), 1u);
    EXPECT_EQ(health.missing[0].name, "_spf.host.example");
    facts_.add_txt("_spf.host.example", txt({"v=spf1 ip4:192.0.2.25 ~all"}));
    health = assess();
    EXPECT_TRUE(health.missing.empty());
    EXPECT_TRUE(health.spf_aligned);
}

TEST_F(DomainHealthTest, SpfLookupLimitOverflow) {
    std::string record = "v=spf1";
    for (int i = 0; i < 11; ++i) {
        const auto name = "i" + std::to_string(i) + ".host.example";
        record += " include:" + name;
        facts_.add_txt(name, txt({"v=spf1 ip4:203.0.113.1 -all"}));
    }
    facts_.add_txt("shop.example", txt({record + " -all"}));
    EXPECT_EQ(codes(assess()), std::vector<std::string>{"spf_lookup_limit"});
}

TEST_F(DomainHealthTest, SpfDependingOnTheClientIsUnverifiable) {
    facts_.add_txt("shop.example", txt({"v=spf1 exists:%{i}.spf.shop.example -all"}));
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"spf_unverifiable"});
    EXPECT_EQ(health.findings[0].severity, Severity::info);
}

TEST_F(DomainHealthTest, WithoutRelayIdentitySpfIsUnverifiable) {
    relay_ = RelayIdentity();
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"spf_unverifiable"});
    EXPECT_FALSE(health.spf_aligned);
    EXPECT_TRUE(health.dmarc_pass);
}

TEST_F(DomainHealthTest, DmarcMissingAtDomainAndOrganization) {
    facts_.add_txt("_dmarc.shop.example", txt({}));
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"dmarc_missing"});
    EXPECT_EQ(health.findings[0].record, "_dmarc.shop.example");
    EXPECT_FALSE(health.dmarc_policy);
}

TEST_F(DomainHealthTest, DmarcPolicyNoneIsInformational) {
    facts_.add_txt("_dmarc.shop.example", txt({"v=DMARC1; p=none"}));
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"dmarc_policy_none"});
    EXPECT_EQ(health.findings[0].severity, Severity::info);
}

TEST_F(DomainHealthTest, InvalidAndDuplicateDmarcRecords) {
    facts_.add_txt("_dmarc.shop.example", txt({"v=DMARC1; p=block"}));
    EXPECT_EQ(codes(assess()), std::vector<std::string>{"dmarc_invalid"});
    facts_.add_txt("_dmarc.shop.example", txt({"v=DMARC1; p=none", "v=DMARC1; p=reject"}));
    EXPECT_EQ(codes(assess()), std::vector<std::string>{"dmarc_invalid"});
    facts_.add_txt("_dmarc.shop.example", txt({"v=dmarc1; p=reject"}));
    EXPECT_EQ(codes(assess()), std::vector<std::string>{"dmarc_invalid"});
}

TEST_F(DomainHealthTest, SubdomainFollowsTheOrganizationsSubdomainPolicy) {
    input_.domain = "news.shop.example";
    input_.keys.clear();
    input_.dkim_policy = DkimPolicy::off;
    facts_.add_txt("news.shop.example", txt({"v=spf1 ip4:192.0.2.25 -all"}));
    facts_.add_txt("_dmarc.news.shop.example", txt({}));
    facts_.add_txt("_dmarc.shop.example", txt({"v=DMARC1; p=none; sp=quarantine"}));
    const auto health = assess();
    EXPECT_EQ(health.dmarc_record_name, "_dmarc.shop.example");
    EXPECT_EQ(health.dmarc_policy, DmarcPolicy::quarantine);
    EXPECT_FALSE(health.has(health_code::dmarc_policy_none));
    EXPECT_TRUE(health.spf_aligned);
}

TEST_F(DomainHealthTest, DkimRecordMissingAndMismatch) {
    facts_.add_txt("sh2026q4._domainkey.shop.example", txt({}));
    auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"dkim_record_missing"});
    EXPECT_NE(health.findings[0].message.find(std::string("p=") + k_key), std::string::npos);
    EXPECT_FALSE(health.dkim_aligned);
    EXPECT_TRUE(health.dmarc_pass);  // SPF carries it

    facts_.add_txt("sh2026q4._domainkey.shop.example",
                   txt({std::string("v=DKIM1; k=ed25519; p=") + k_other_key}));
    health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"dkim_record_mismatch"});
    EXPECT_EQ(health.keys[0].status, DkimRecordStatus::mismatch);

    // A revoked key (empty p=) is a mismatch too.
    facts_.add_txt("sh2026q4._domainkey.shop.example", txt({"v=DKIM1; p="}));
    EXPECT_EQ(codes(assess()), std::vector<std::string>{"dkim_record_mismatch"});
}

TEST_F(DomainHealthTest, KeyRecordSplitIntoStringsWithSpacesStillMatches) {
    std::string spaced = std::string("v=DKIM1; k=ed25519; p=") + k_key;
    spaced.insert(40, " ");
    facts_.add_txt("sh2026q4._domainkey.shop.example", txt({"unrelated text", spaced}));
    EXPECT_TRUE(assess().dkim_aligned);
}

TEST_F(DomainHealthTest, NoActiveKey) {
    input_.keys[0].active = false;
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"dkim_no_active_key"});
    EXPECT_FALSE(health.dkim_aligned);
}

TEST_F(DomainHealthTest, SigningOffIsReportedInsteadOfKeyProblems) {
    input_.dkim_policy = DkimPolicy::off;
    facts_.add_txt("sh2026q4._domainkey.shop.example", txt({}));
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"dkim_signing_off"});
    EXPECT_FALSE(health.dkim_aligned);
}

TEST_F(DomainHealthTest, NeitherAlignedWouldFailDmarc) {
    facts_.add_txt("sh2026q4._domainkey.shop.example", txt({}));
    facts_.add_txt("shop.example", txt({"v=spf1 -all"}));
    const auto health = assess();
    EXPECT_EQ(codes(health),
              (std::vector<std::string>{"dkim_record_missing", "spf_does_not_authorize_relay",
                                        "dmarc_would_fail"}));
    EXPECT_FALSE(health.dmarc_pass);
}

TEST_F(DomainHealthTest, SubdomainFromWithParentKeyAlignsRelaxedOnly) {
    input_.from_domain = "news.shop.example";
    facts_.add_txt("shop.example", txt({"v=spf1 -all"}));
    facts_.add_txt("_dmarc.news.shop.example", txt({}));
    auto health = assess();
    EXPECT_EQ(health.dmarc_record_name, "_dmarc.shop.example");
    EXPECT_TRUE(health.dkim_aligned);
    EXPECT_TRUE(health.dmarc_pass);

    facts_.add_txt("_dmarc.shop.example", txt({"v=DMARC1; p=reject; adkim=s"}));
    health = assess();
    EXPECT_EQ(health.dkim_alignment, Alignment::strict);
    EXPECT_FALSE(health.dkim_aligned);
    EXPECT_FALSE(health.dmarc_pass);
    EXPECT_TRUE(health.has(health_code::dmarc_would_fail));
}

TEST_F(DomainHealthTest, StrictSpfAlignmentWithSubdomainFrom) {
    input_.from_domain = "news.shop.example";
    input_.dkim_policy = DkimPolicy::off;
    facts_.add_txt("_dmarc.news.shop.example", txt({"v=DMARC1; p=reject; aspf=s"}));
    auto health = assess();
    EXPECT_FALSE(health.spf_aligned);
    EXPECT_FALSE(health.dmarc_pass);
    facts_.add_txt("_dmarc.news.shop.example", txt({"v=DMARC1; p=reject; aspf=r"}));
    health = assess();
    EXPECT_TRUE(health.spf_aligned);
}

TEST_F(DomainHealthTest, UnansweredLookupsAreOneFindingAndNoVerdict) {
    facts_.add_txt("shop.example", timed_out());
    facts_.add_txt("sh2026q4._domainkey.shop.example", timed_out());
    const auto health = assess();
    EXPECT_EQ(codes(health), std::vector<std::string>{"dns_unavailable"});
    EXPECT_NE(health.findings[0].message.find("sh2026q4._domainkey.shop.example"),
              std::string::npos);
    EXPECT_EQ(health.keys[0].status, DkimRecordStatus::unavailable);
    EXPECT_FALSE(health.dmarc_pass);
}

TEST_F(DomainHealthTest, EveryCodeIsListed) {
    EXPECT_EQ(all_health_codes().size(), 15u);
}

TEST(DomainHealthRelayIdentity, FromConfigurationValues) {
    const auto relay = relay_identity({"192.0.2.25", "", "2001:db8::25"}, "_SPF.Relay.Example.");
    ASSERT_TRUE(relay);
    ASSERT_EQ(relay->outbound_addresses.size(), 2u);
    EXPECT_EQ(relay->outbound_addresses[0].to_string(), "192.0.2.25/32");
    EXPECT_TRUE(relay->outbound_addresses[1].ipv6());
    EXPECT_EQ(relay->spf_include, "_spf.relay.example");
    EXPECT_TRUE(relay_identity({}, "")->outbound_addresses.empty());
    EXPECT_FALSE(relay_identity({"192.0.2.0/24"}, ""));
    EXPECT_FALSE(relay_identity({"relay.example"}, ""));
}

}  // namespace
}  // namespace smarthost::policy
