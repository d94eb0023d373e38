// SPF records (RFC 7208): syntax, and check_host() over given DNS answers — includes,
// redirects, a and mx, the lookup limits, and what a health check cannot know.

#include "relay/policy/spf.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

dns::TxtAnswer txt(std::vector<std::string> records) {
    dns::TxtAnswer answer;
    answer.status = records.empty() ? dns::AnswerStatus::nodata : dns::AnswerStatus::ok;
    answer.records = std::move(records);
    return answer;
}

dns::AddressAnswer addresses(std::vector<std::string> records) {
    dns::AddressAnswer answer;
    answer.status = records.empty() ? dns::AnswerStatus::nodata : dns::AnswerStatus::ok;
    answer.records = std::move(records);
    return answer;
}

dns::TxtAnswer failed() {
    dns::TxtAnswer answer;
    answer.status = dns::AnswerStatus::timeout;
    return answer;
}

Network ip(std::string_view text) {
    return *Network::parse(text);
}

SpfEvaluation evaluate(const DnsFacts& facts, std::string_view client, std::string include = {}) {
    return evaluate_spf(SpfQuery{"example.com", ip(client), std::move(include)}, facts);
}

DnsFacts with_record(std::string record) {
    DnsFacts facts;
    facts.add_txt("example.com", txt({std::move(record)}));
    return facts;
}

TEST(SpfRecord, RecognizesVersionOnlyFollowedBySpaceOrEnd) {
    EXPECT_TRUE(is_spf_record("v=spf1"));
    EXPECT_TRUE(is_spf_record("v=spf1 -all"));
    EXPECT_TRUE(is_spf_record("V=SPF1 -all"));
    EXPECT_FALSE(is_spf_record("v=spf10 -all"));
    EXPECT_FALSE(is_spf_record("v=spf1-all"));
    EXPECT_FALSE(is_spf_record("spf2.0/pra -all"));
    EXPECT_FALSE(is_spf_record("google-site-verification=abc"));
}

TEST(SpfRecord, ParsesTheRfcExampleMechanisms) {
    // RFC 7208 appendix A.
    const auto parsed = parse_spf(
        "v=spf1 +mx a:colo.example.com/28 ~ip4:192.0.2.0/24 ip6:2001:db8::/32 "
        "?include:_spf.example.org exists:%{ir}.%{l1r+-}._spf.%{d} ptr:example.net "
        "mx/30//64 -all redirect=_spf.example.com exp=explain._spf.%{d}");
    ASSERT_TRUE(parsed.record) << parsed.error;
    const auto& terms = parsed.record->terms;
    ASSERT_EQ(terms.size(), 9u);
    EXPECT_EQ(terms[0].kind, SpfTerm::Kind::mx);
    EXPECT_EQ(terms[0].qualifier, SpfResult::pass);
    EXPECT_EQ(terms[1].kind, SpfTerm::Kind::a);
    EXPECT_EQ(terms[1].domain, "colo.example.com");
    EXPECT_EQ(terms[1].ipv4_prefix, 28);
    EXPECT_EQ(terms[2].qualifier, SpfResult::softfail);
    EXPECT_EQ(terms[2].network->to_string(), "192.0.2.0/24");
    EXPECT_TRUE(terms[3].network->ipv6());
    EXPECT_EQ(terms[4].qualifier, SpfResult::neutral);
    EXPECT_EQ(terms[4].domain, "_spf.example.org");
    EXPECT_EQ(terms[5].kind, SpfTerm::Kind::exists);
    EXPECT_EQ(terms[6].kind, SpfTerm::Kind::ptr);
    EXPECT_EQ(terms[7].ipv4_prefix, 30);
    EXPECT_EQ(terms[7].ipv6_prefix, 64);
    EXPECT_EQ(terms[8].kind, SpfTerm::Kind::all);
    EXPECT_EQ(terms[8].qualifier, SpfResult::fail);
    EXPECT_EQ(parsed.record->redirect, "_spf.example.com");
}

TEST(SpfRecord, MechanismNamesAreCaseInsensitiveAndSpacesMayRepeat) {
    const auto parsed = parse_spf("v=spf1  IP4:192.0.2.1   Include:_spf.example.org  -ALL ");
    ASSERT_TRUE(parsed.record) << parsed.error;
    EXPECT_EQ(parsed.record->terms.size(), 3u);
}

TEST(SpfRecord, UnknownModifiersAreIgnored) {
    const auto parsed = parse_spf("v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 -all");
    ASSERT_TRUE(parsed.record) << parsed.error;
    EXPECT_EQ(parsed.record->terms.size(), 2u);
}

TEST(SpfRecord, MalformedRecordsAreErrors) {
    for (const char* record : {
             "v=spf1 ip4:192.0.2.1/33",         // prefix too long
             "v=spf1 ip4:2001:db8::1",          // ip4 with an IPv6 address
             "v=spf1 ip6:192.0.2.1",            // ip6 with an IPv4 address
             "v=spf1 ip4:192.0.2",              // not an address
             "v=spf1 ip4:192.0.2.0/024",        // leading zero
             "v=spf1 include",                  // include needs a domain
             "v=spf1 include:",                 // empty domain
             "v=spf1 include:localhost",        // no top label
             "v=spf1 include:example.123",      // numeric top label
             "v=spf1 a:example.com/",           // empty cidr
             "v=spf1 mx//129",                  // IPv6 prefix too long
             "v=spf1 all:example.com",          // all takes no argument
             "v=spf1 ipv4:192.0.2.1",           // unknown mechanism
             "v=spf1 *all",                     // bad qualifier
             "v=spf1 exists:%{z}.example.com",  // unknown macro letter
             "v=spf1 exists:%example.com",      // stray percent
             "v=spf1 redirect=a.example redirect=b.example",
             "v=spf1 exp=a.example exp=b.example -all",
             "v=spf1 =value -all",
             "v=spf2 -all",
         }) {
        EXPECT_FALSE(parse_spf(record).record) << record;
        EXPECT_FALSE(parse_spf(record).error.empty()) << record;
    }
}

TEST(SpfEvaluation, Ip4AndIp6CoverTheClient) {
    auto facts = with_record("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all");
    EXPECT_EQ(evaluate(facts, "192.0.2.77").result, SpfResult::pass);
    EXPECT_EQ(evaluate(facts, "2001:db8::25").result, SpfResult::pass);
    EXPECT_EQ(evaluate(facts, "198.51.100.1").result, SpfResult::fail);
}

TEST(SpfEvaluation, TheQualifierOfTheFirstMatchDecides) {
    auto facts = with_record("v=spf1 -ip4:192.0.2.1 ip4:192.0.2.0/24 ~all");
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::fail);
    EXPECT_EQ(evaluate(facts, "192.0.2.2").result, SpfResult::pass);
    EXPECT_EQ(evaluate(facts, "203.0.113.9").result, SpfResult::softfail);
}

TEST(SpfEvaluation, NoMatchAndNoRedirectIsNeutral) {
    EXPECT_EQ(evaluate(with_record("v=spf1 ip4:192.0.2.1"), "203.0.113.9").result,
              SpfResult::neutral);
}

TEST(SpfEvaluation, NoSpfRecordIsNone) {
    DnsFacts facts;
    facts.add_txt("example.com", txt({"some-verification=1"}));
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::none);
}

TEST(SpfEvaluation, TwoSpfRecordsArePermerror) {
    DnsFacts facts;
    facts.add_txt("example.com", txt({"v=spf1 -all", "v=spf1 +all"}));
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::permerror);
}

TEST(SpfEvaluation, IncludeChainsAreFollowed) {
    auto facts = with_record("v=spf1 include:_spf.example.org -all");
    facts.add_txt("_spf.example.org", txt({"v=spf1 include:_netblocks.example.net ~all"}));
    facts.add_txt("_netblocks.example.net", txt({"v=spf1 ip4:198.51.100.0/24 ~all"}));
    const auto result = evaluate(facts, "198.51.100.20");
    EXPECT_EQ(result.result, SpfResult::pass);
    EXPECT_EQ(result.dns_terms, 2);
    // An include whose record fails the client does not match: evaluation goes on.
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::fail);
}

TEST(SpfEvaluation, MissingAnswersAreAskedForOneStepAtATime) {
    DnsFacts facts;
    auto first = evaluate(facts, "198.51.100.20");
    EXPECT_EQ(first.result, SpfResult::unknown);
    ASSERT_EQ(first.missing.size(), 1u);
    EXPECT_EQ(first.missing[0], (DnsQuestion{DnsQuestion::Type::txt, "example.com"}));

    facts.add_txt("example.com", txt({"v=spf1 include:_spf.Example.ORG. -all"}));
    auto second = evaluate(facts, "198.51.100.20");
    ASSERT_EQ(second.missing.size(), 1u);
    EXPECT_EQ(second.missing[0].name, "_spf.example.org");
}

TEST(SpfEvaluation, IncludeOfADomainWithoutSpfIsPermerror) {
    auto facts = with_record("v=spf1 include:nospf.example.org -all");
    facts.add_txt("nospf.example.org", txt({}));
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::permerror);
}

TEST(SpfEvaluation, IncludeThatTimesOutIsTemperror) {
    auto facts = with_record("v=spf1 include:slow.example.org -all");
    facts.add_txt("slow.example.org", failed());
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::temperror);
}

TEST(SpfEvaluation, RedirectAppliesOnlyWhenNothingMatched) {
    auto facts = with_record("v=spf1 ip4:192.0.2.1 redirect=_spf.example.org");
    facts.add_txt("_spf.example.org", txt({"v=spf1 ip4:198.51.100.0/24 -all"}));
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::pass);
    EXPECT_EQ(evaluate(facts, "198.51.100.3").result, SpfResult::pass);
    EXPECT_EQ(evaluate(facts, "203.0.113.3").result, SpfResult::fail);
}

TEST(SpfEvaluation, RedirectIsIgnoredWhenAllIsPresent) {
    auto facts = with_record("v=spf1 ~all redirect=_spf.example.org");
    EXPECT_EQ(evaluate(facts, "198.51.100.3").result, SpfResult::softfail);
}

TEST(SpfEvaluation, RedirectToADomainWithoutSpfIsPermerror) {
    auto facts = with_record("v=spf1 redirect=nospf.example.org");
    facts.add_txt("nospf.example.org", txt({}));
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::permerror);
}

TEST(SpfEvaluation, TheTrustedIncludeNamePassesWithoutALookup) {
    auto facts = with_record("v=spf1 mx include:_spf.relay.example -all");
    facts.add_mx("example.com", dns::MxAnswer{dns::AnswerStatus::nodata, {}, 0, 0});
    const auto result = evaluate(facts, "203.0.113.5", "_spf.relay.example");
    EXPECT_EQ(result.result, SpfResult::pass);
    EXPECT_TRUE(result.used_include_name);
    EXPECT_TRUE(result.missing.empty());
    // Without a client address (no source_address configured), only the include counts.
    const auto without_client =
        evaluate_spf(SpfQuery{"example.com", std::nullopt, "_spf.relay.example"}, facts);
    EXPECT_EQ(without_client.result, SpfResult::pass);
    // Another include name is looked into like any include.
    facts.add_txt("_spf.relay.example", txt({"v=spf1 ip4:203.0.113.0/24 -all"}));
    EXPECT_EQ(
        evaluate_spf(SpfQuery{"example.com", std::nullopt, "_spf.other.example"}, facts).result,
        SpfResult::fail);
}

TEST(SpfEvaluation, TheTrustedIncludeAfterAllIsNeverReached) {
    auto facts = with_record("v=spf1 -all include:_spf.relay.example");
    EXPECT_EQ(evaluate(facts, "203.0.113.5", "_spf.relay.example").result, SpfResult::fail);
}

TEST(SpfEvaluation, AMechanismLooksUpTheAddressesOfTheClientsFamily) {
    auto facts = with_record("v=spf1 a a:mail.example.org/24 -all");
    auto first = evaluate(facts, "198.51.100.77");
    ASSERT_EQ(first.missing.size(), 1u);
    EXPECT_EQ(first.missing[0], (DnsQuestion{DnsQuestion::Type::a, "example.com"}));
    facts.add_addresses(DnsQuestion::Type::a, "example.com", addresses({"192.0.2.10"}));
    facts.add_addresses(DnsQuestion::Type::a, "mail.example.org", addresses({"198.51.100.5"}));
    EXPECT_EQ(evaluate(facts, "192.0.2.10").result, SpfResult::pass);
    EXPECT_EQ(evaluate(facts, "198.51.100.77").result, SpfResult::pass);  // within the /24
    EXPECT_EQ(evaluate(facts, "192.0.2.11").result, SpfResult::fail);

    auto ipv6 = evaluate(facts, "2001:db8::1");
    ASSERT_EQ(ipv6.missing.size(), 1u);
    EXPECT_EQ(ipv6.missing[0].type, DnsQuestion::Type::aaaa);
}

TEST(SpfEvaluation, MxMechanismLooksUpEachExchange) {
    auto facts = with_record("v=spf1 mx -all");
    facts.add_mx(
        "example.com",
        dns::MxAnswer{
            dns::AnswerStatus::ok, {{10, "mx1.example.com"}, {20, "mx2.example.net."}}, 300, 0});
    auto first = evaluate(facts, "198.51.100.2");
    EXPECT_EQ(first.result, SpfResult::unknown);
    EXPECT_EQ(first.missing.size(), 2u);
    facts.add_addresses(DnsQuestion::Type::a, "mx1.example.com", addresses({"192.0.2.1"}));
    facts.add_addresses(DnsQuestion::Type::a, "mx2.example.net", addresses({"198.51.100.2"}));
    EXPECT_EQ(evaluate(facts, "198.51.100.2").result, SpfResult::pass);
    EXPECT_EQ(evaluate(facts, "203.0.113.2").result, SpfResult::fail);
}

TEST(SpfEvaluation, MoreThanTenMxRecordsIsPermerror) {
    auto facts = with_record("v=spf1 mx -all");
    dns::MxAnswer mx{dns::AnswerStatus::ok, {}, 300, 0};
    for (int i = 0; i < 11; ++i)
        mx.records.push_back({10, "mx" + std::to_string(i) + ".example.com"});
    facts.add_mx("example.com", mx);
    const auto result = evaluate(facts, "192.0.2.1");
    EXPECT_EQ(result.result, SpfResult::permerror);
    EXPECT_TRUE(result.lookup_limit_exceeded);
}

TEST(SpfEvaluation, ElevenDnsTermsExceedTheLookupLimit) {
    // One include per level: the eleventh is one too many (RFC 7208 section 4.6.4).
    auto facts = with_record("v=spf1 include:l1.example.org -all");
    for (int level = 1; level <= 11; ++level) {
        const auto next = "include:l" + std::to_string(level + 1) + ".example.org";
        facts.add_txt("l" + std::to_string(level) + ".example.org",
                      txt({"v=spf1 " + next + " -all"}));
    }
    const auto result = evaluate(facts, "192.0.2.1");
    EXPECT_EQ(result.result, SpfResult::permerror);
    EXPECT_TRUE(result.lookup_limit_exceeded);
    EXPECT_EQ(result.dns_terms, 11);
}

TEST(SpfEvaluation, TenDnsTermsAreWithinTheLimit) {
    std::string record = "v=spf1";
    auto facts = with_record("");
    for (int i = 1; i <= 9; ++i) {
        const auto name = "i" + std::to_string(i) + ".example.org";
        record += " include:" + name;
        facts.add_txt(name, txt({"v=spf1 -all"}));
    }
    record += " include:_spf.example.org -all";
    facts.add_txt("example.com", txt({record}));
    facts.add_txt("_spf.example.org", txt({"v=spf1 ip4:192.0.2.0/24 -all"}));
    const auto result = evaluate(facts, "192.0.2.1");
    EXPECT_EQ(result.result, SpfResult::pass);
    EXPECT_EQ(result.dns_terms, 10);
}

TEST(SpfEvaluation, AnIncludeLoopEndsAtTheLookupLimit) {
    auto facts = with_record("v=spf1 include:example.com -all");
    const auto result = evaluate(facts, "192.0.2.1");
    EXPECT_EQ(result.result, SpfResult::permerror);
    EXPECT_TRUE(result.lookup_limit_exceeded);
}

TEST(SpfEvaluation, MoreThanTwoVoidLookupsArePermerror) {
    auto facts = with_record("v=spf1 a:v1.example.org a:v2.example.org a:v3.example.org -all");
    for (const char* name : {"v1.example.org", "v2.example.org", "v3.example.org"})
        facts.add_addresses(DnsQuestion::Type::a, name, addresses({}));
    const auto result = evaluate(facts, "192.0.2.1");
    EXPECT_EQ(result.result, SpfResult::permerror);
    EXPECT_TRUE(result.lookup_limit_exceeded);
}

TEST(SpfEvaluation, DomainMacroExpandsButClientMacrosAreUnknown) {
    auto facts = with_record("v=spf1 include:_spf.%{d} exists:%{i}.bl.example.org -all");
    facts.add_txt("_spf.example.com", txt({"v=spf1 ip4:192.0.2.0/24 -all"}));
    EXPECT_EQ(evaluate(facts, "192.0.2.1").result, SpfResult::pass);
    const auto result = evaluate(facts, "198.51.100.1");
    EXPECT_EQ(result.result, SpfResult::unknown);
    EXPECT_TRUE(result.missing.empty());
}

TEST(SpfEvaluation, PtrNeverMatchesTheRelay) {
    EXPECT_EQ(evaluate(with_record("v=spf1 ptr -all"), "192.0.2.1").result, SpfResult::fail);
}

TEST(SpfEvaluation, ResultNamesAreTheRfcs) {
    EXPECT_STREQ(to_string(SpfResult::softfail), "softfail");
    EXPECT_STREQ(to_string(SpfResult::permerror), "permerror");
}

}  // namespace
}  // namespace smarthost::policy
