// MTA-STS's pure part (relay/delivery/mta_sts): the TXT record, the policy file, MX
// patterns, when to fetch again, and what a policy means for one MX host (RFC 8461).

#include "relay/delivery/mta_sts.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace smarthost::delivery::mta_sts {
namespace {

using std::chrono::seconds;
using Records = std::vector<std::string>;

TEST(MtaStsTxt, OneRecordGivesItsId) {
    EXPECT_EQ(policy_id(Records{"v=STSv1; id=20160831085700Z;"}), "20160831085700Z");
    EXPECT_EQ(policy_id(Records{"v=STSv1;id=abc"}), "abc");
    EXPECT_EQ(policy_id(Records{"v=STSv1 ; id=abc ; ext=1"}), "abc");
}

TEST(MtaStsTxt, OtherRecordsAreDiscarded) {
    EXPECT_EQ(policy_id(Records{"v=spf1 -all", "v=STSv1; id=abc;", "hello"}), "abc");
}

TEST(MtaStsTxt, TwoStsRecordsMeanNoPolicy) {
    EXPECT_EQ(policy_id(Records{"v=STSv1; id=abc;", "v=STSv1; id=def;"}), std::nullopt);
}

TEST(MtaStsTxt, NoRecordMeansNoPolicy) {
    EXPECT_EQ(policy_id(Records{}), std::nullopt);
    EXPECT_EQ(policy_id(Records{"v=STSv10; id=abc"}), std::nullopt);
    EXPECT_EQ(policy_id(Records{"V=STSv1; id=abc"}), std::nullopt);
}

TEST(MtaStsTxt, MalformedRecordMeansNoPolicy) {
    EXPECT_EQ(policy_id(Records{"v=STSv1;"}), std::nullopt);          // no id
    EXPECT_EQ(policy_id(Records{"v=STSv1; id=a-b;"}), std::nullopt);  // not alnum
    EXPECT_EQ(policy_id(Records{"v=STSv1; id=" + std::string(33, 'a')}), std::nullopt);
    EXPECT_EQ(policy_id(Records{"v=STSv1; id;"}), std::nullopt);           // no value
    EXPECT_EQ(policy_id(Records{"v=STSv1; ;id=abc"}), std::nullopt);       // empty field
    EXPECT_EQ(policy_id(Records{"v=STSv1; id=abc; 9x=1"}), std::nullopt);  // bad name
}

TEST(MtaStsTxt, UnknownFieldsAreIgnoredAndTheFirstIdCounts) {
    EXPECT_EQ(policy_id(Records{"v=STSv1; foo=bar; id=one; id=two"}), "one");
}

TEST(MtaStsPolicy, ParsesTheRfcExample) {
    const auto policy = parse_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
        "mx: backupmx.example.com\r\nmax_age: 604800\r\n");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->mode, Mode::enforce);
    EXPECT_EQ(policy->max_age_seconds, 604800u);
    EXPECT_EQ(policy->mx, (Records{"mail.example.com", "*.example.net", "backupmx.example.com"}));
}

TEST(MtaStsPolicy, LfLinesWhitespaceUnknownKeysAndCase) {
    const auto policy = parse_policy(
        "version:STSv1\nmode:   testing  \nfuture_key: whatever\nmx: MX.Example.COM\nmax_age: "
        "86400");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->mode, Mode::testing);
    EXPECT_EQ(policy->mx, Records{"mx.example.com"});
    EXPECT_EQ(policy->max_age_seconds, 86400u);
}

TEST(MtaStsPolicy, ModeNoneNeedsNoMx) {
    const auto policy = parse_policy("version: STSv1\nmode: none\nmax_age: 0\n");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->mode, Mode::none);
}

TEST(MtaStsPolicy, RepeatedKeysOtherThanMxKeepTheFirst) {
    const auto policy =
        parse_policy("version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n");
    ASSERT_TRUE(policy);
    EXPECT_EQ(policy->mode, Mode::enforce);
}

TEST(MtaStsPolicy, RefusesWhatTheRfcDoesNotAllow) {
    const std::string mx = "mx: a.example\n";
    EXPECT_FALSE(parse_policy("mode: enforce\n" + mx + "max_age: 1\n"));  // no version
    EXPECT_FALSE(parse_policy("version: STSv2\nmode: enforce\n" + mx + "max_age: 1\n"));
    EXPECT_FALSE(parse_policy("version: STSv1\n" + mx + "max_age: 1\n"));  // no mode
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: strict\n" + mx + "max_age: 1\n"));
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\n" + mx));  // no max_age
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\n" + mx + "max_age: 31557601\n"));
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\n" + mx + "max_age: -1\n"));
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\n" + mx + "max_age: 99999999999\n"));
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n"));  // no mx
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n"));
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: *.*.b\nmax_age: 1\n"));
    EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nno colon\nmax_age: 1\n"));
    EXPECT_TRUE(parse_policy("version: STSv1\nmode: enforce\n" + mx + "max_age: 31557600\n"));
}

TEST(MtaStsPolicy, BoundsSizeAndPatternCount) {
    std::string body = "version: STSv1\nmode: enforce\nmax_age: 1\n";
    for (std::size_t i = 0; i < k_max_mx_patterns; ++i)
        body += "mx: a" + std::to_string(i) + ".example\n";
    EXPECT_TRUE(parse_policy(body));
    EXPECT_FALSE(parse_policy(body + "mx: one-more.example\n"));
    EXPECT_FALSE(parse_policy(body + std::string(k_max_policy_bytes, '\n')));
}

TEST(MtaStsPolicy, ResponseMustBe200TextPlain) {
    const std::string body = "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 60\n";
    EXPECT_TRUE(policy_from_response(200, "text/plain", body));
    EXPECT_TRUE(policy_from_response(200, "Text/Plain; charset=utf-8", body));
    EXPECT_FALSE(policy_from_response(301, "text/plain", body));
    EXPECT_FALSE(policy_from_response(404, "text/plain", body));
    EXPECT_FALSE(policy_from_response(200, "text/html", body));
    EXPECT_FALSE(policy_from_response(200, "", body));
}

TEST(MtaStsPattern, ExactAndOneLabelWildcard) {
    EXPECT_TRUE(mx_matches("mail.example.com", "mail.example.com"));
    EXPECT_TRUE(mx_matches("mail.example.com", "MAIL.Example.com."));
    EXPECT_FALSE(mx_matches("mail.example.com", "mail2.example.com"));
    EXPECT_TRUE(mx_matches("*.example.net", "mx1.example.net"));
    EXPECT_TRUE(mx_matches("*.example.net", "MX1.EXAMPLE.NET"));
    EXPECT_FALSE(mx_matches("*.example.net", "example.net"));
    EXPECT_FALSE(mx_matches("*.example.net", "a.b.example.net"));
    EXPECT_FALSE(mx_matches("*.example.net", "mx1.example.network"));
    EXPECT_FALSE(mx_matches("*.example.net", ".example.net"));
    EXPECT_FALSE(mx_matches("*.example.net", "mx1example.net"));
}

TEST(MtaStsRefresh, FetchesOnNewIdOrExpiryAndKeepsACurrentPolicy) {
    const auto now = std::chrono::system_clock::time_point{} + std::chrono::hours(1000);
    CachedPolicy cached;
    cached.id = "one";
    cached.policy.mode = Mode::enforce;
    cached.fetched_at = now - seconds(10);
    cached.expires_at = now + seconds(10);
    EXPECT_EQ(refresh_for(cached, std::string("one"), now), Refresh::use_cached);
    EXPECT_EQ(refresh_for(cached, std::string("two"), now), Refresh::fetch);
    // RFC 8461 5.1: without a TXT record an unexpired policy still applies.
    EXPECT_EQ(refresh_for(cached, std::nullopt, now), Refresh::use_cached);
    cached.expires_at = now;
    EXPECT_EQ(refresh_for(cached, std::string("one"), now), Refresh::fetch);
    EXPECT_EQ(refresh_for(cached, std::nullopt, now), Refresh::no_policy);
    EXPECT_EQ(refresh_for(std::nullopt, std::string("one"), now), Refresh::fetch);
    EXPECT_EQ(refresh_for(std::nullopt, std::nullopt, now), Refresh::no_policy);
}

Policy policy_of(Mode mode) {
    Policy policy;
    policy.mode = mode;
    policy.mx = {"*.example.net"};
    policy.max_age_seconds = 60;
    return policy;
}

TEST(MtaStsDecision, EnforceVerifiesMatchingHostsAndSkipsOthers) {
    const auto matching = decide_host(policy_of(Mode::enforce), "example.org", "mx.example.net");
    EXPECT_EQ(matching.verdict, HostVerdict::verify);
    const auto other = decide_host(policy_of(Mode::enforce), "example.org", "mx.evil.test");
    EXPECT_EQ(other.verdict, HostVerdict::skip);
    EXPECT_EQ(other.reason, "MTA-STS policy of example.org does not list MX host mx.evil.test");
}

TEST(MtaStsDecision, TestingDeliversAsUsualAndReportsAMismatch) {
    const auto other = decide_host(policy_of(Mode::testing), "example.org", "mx.evil.test");
    EXPECT_EQ(other.verdict, HostVerdict::as_usual);
    EXPECT_TRUE(other.testing_mismatch);
    const auto matching = decide_host(policy_of(Mode::testing), "example.org", "mx.example.net");
    EXPECT_EQ(matching.verdict, HostVerdict::as_usual);
    EXPECT_FALSE(matching.testing_mismatch);
}

TEST(MtaStsDecision, NoneOrNoPolicyChangesNothing) {
    EXPECT_EQ(decide_host(policy_of(Mode::none), "example.org", "mx.evil.test").verdict,
              HostVerdict::as_usual);
    EXPECT_EQ(decide_host(std::nullopt, "example.org", "mx.evil.test").verdict,
              HostVerdict::as_usual);
}

}  // namespace
}  // namespace smarthost::delivery::mta_sts
