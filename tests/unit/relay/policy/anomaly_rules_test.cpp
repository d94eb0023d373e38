#include "relay/policy/anomaly_rules.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

namespace smarthost::policy {
namespace {

Observation account(std::int64_t id, std::int64_t observed, std::int64_t total = 0,
                    std::optional<double> baseline = std::nullopt) {
    Observation observation;
    observation.account_id = id;
    observation.observed = observed;
    observation.total = total == 0 ? observed : total;
    observation.baseline = baseline;
    return observation;
}

Observation credential(std::int64_t account_id, std::int64_t id, std::int64_t observed,
                       std::int64_t total = 0) {
    auto observation = account(account_id, observed, total);
    observation.credential_id = id;
    return observation;
}

Observation sub_user(std::int64_t account_id, const std::string& name, std::int64_t observed,
                     std::optional<std::int64_t> refused = std::nullopt) {
    auto observation = account(account_id, observed);
    observation.sub_user = name;
    observation.refused = refused;
    return observation;
}

TEST(AnomalyRules, VolumeTripsFarAboveTheUnitsOwnBaselineOnly) {
    const AnomalyRule rule{true, std::chrono::seconds(600), 500, 10.0, RuleAction::alert};
    EXPECT_FALSE(tripped(Rule::volume, rule, account(1, 499, 0, 0.0)));  // under the threshold
    EXPECT_TRUE(tripped(Rule::volume, rule, account(1, 500, 0, 0.0)));   // no history
    EXPECT_TRUE(tripped(Rule::volume, rule, account(1, 501, 0, 50.0)));  // 10× its usual 50
    EXPECT_FALSE(tripped(Rule::volume, rule, account(1, 500, 0, 50.0)));
    // A big sender at its usual pace is not a spike.
    EXPECT_FALSE(tripped(Rule::volume, rule, account(1, 20000, 0, 18000.0)));
}

TEST(AnomalyRules, RemoteRejectionsNeedTheCountAndTheShare) {
    const AnomalyRule rule{true, std::chrono::seconds(600), 50, 0.3, RuleAction::hold};
    EXPECT_TRUE(tripped(Rule::remote_rejections, rule, account(1, 50, 100)));
    EXPECT_FALSE(tripped(Rule::remote_rejections, rule, account(1, 50, 1000)));  // 5%
    EXPECT_FALSE(tripped(Rule::remote_rejections, rule, account(1, 49, 49)));
}

TEST(AnomalyRules, ScanRejectsTripOnRefusedAndHeldMessagesTogether) {
    const AnomalyRule rule{true, std::chrono::seconds(600), 10, 0, RuleAction::hold};
    EXPECT_TRUE(tripped(Rule::scan_rejects, rule, sub_user(1, "blog1", 10, 6)));  // 4 held
    EXPECT_FALSE(tripped(Rule::scan_rejects, rule, sub_user(1, "shop", 9)));
}

TEST(AnomalyRules, EveryRuleHasItsOwnNameSettingsAndQuery) {
    // A rule missing from one switch would fall through to the last rule's.
    const AbuseConfig config;
    std::set<std::string_view> names;
    std::set<const AnomalyRule*> settings;
    std::set<std::string_view> queries;
    for (const Rule rule : all_rules()) {
        names.insert(rule_name(rule));
        settings.insert(&rule_settings(config, rule));
        queries.insert(rule_query(rule));
    }
    EXPECT_EQ(names.size(), all_rules().size());
    EXPECT_EQ(settings.size(), all_rules().size());
    EXPECT_EQ(queries.size(), all_rules().size());
    EXPECT_TRUE(names.contains("scan_rejects"));
    EXPECT_EQ(&rule_settings(config, Rule::scan_rejects), &config.scan_rejects);
}

TEST(AnomalyRules, ScanRejectsCountRspamdsRefusalsAndHoldsFromTimeIndexes) {
    const std::string query(rule_query(Rule::scan_rejects));
    EXPECT_NE(query.find("FROM rejections j WHERE j.reason = 'content_scan'"), std::string::npos);
    EXPECT_NE(query.find("j.created_at > now()"), std::string::npos);
    EXPECT_NE(query.find("e.kind = 'accepted' AND m.scan_action = 'hold'"), std::string::npos);
    EXPECT_NE(query.find("e.created_at > now()"), std::string::npos);
    EXPECT_NE(query.find("GROUPING SETS"), std::string::npos);
}

TEST(AnomalyRules, ADisabledRuleNeverTrips) {
    const AnomalyRule rule{false, std::chrono::seconds(600), 1, 0, RuleAction::suspend};
    EXPECT_FALSE(tripped(Rule::suspicious_logins, rule, account(1, 100)));
}

TEST(AnomalyRules, ACredentialsTripReplacesItsAccountsTripOfTheSameRule) {
    const AnomalyRule rule{true, std::chrono::seconds(3600), 10, 0, RuleAction::hold};
    const std::vector<Observation> seen{account(1, 30), credential(1, 7, 25), credential(1, 8, 5),
                                        account(2, 12)};
    const auto tripping = trips(Rule::spam_blocks, rule, seen);
    ASSERT_EQ(tripping.size(), 2u);
    EXPECT_EQ(tripping[0].account_id, 1);
    EXPECT_EQ(tripping[0].credential_id, 7);  // not the whole of account 1
    EXPECT_EQ(tripping[1].account_id, 2);
    EXPECT_FALSE(tripping[1].credential_id);  // account 2: no credential stood out
}

TEST(AnomalyRules, ASubUsersTripReplacesItsCredentialsAndAccountsTrips) {
    // One panel credential carries every site's mail: when one site bursts, the credential
    // and the account trip with it, and only the site is to be held.
    const AnomalyRule rule{true, std::chrono::seconds(600), 10, 0, RuleAction::hold};
    const std::vector<Observation> seen{account(1, 40), credential(1, 7, 40),
                                        sub_user(1, "blog1", 35), sub_user(1, "shop", 5)};
    const auto tripping = trips(Rule::volume, rule, seen);
    ASSERT_EQ(tripping.size(), 1u);
    EXPECT_EQ(tripping[0].sub_user, "blog1");
    EXPECT_FALSE(tripping[0].credential_id);
}

TEST(AnomalyRules, EvidenceSaysWhatWasSeenAgainstWhat) {
    const AnomalyRule rule{true, std::chrono::seconds(600), 500, 10.0, RuleAction::hold};
    const auto evidence =
        boost::json::parse(evidence_json(Rule::volume, rule, account(3, 900, 0, 40.0))).as_object();
    EXPECT_EQ(evidence.at("rule").as_string(), "volume");
    EXPECT_EQ(evidence.at("observed").as_int64(), 900);
    EXPECT_EQ(evidence.at("threshold").to_number<std::int64_t>(), 500);
    EXPECT_EQ(evidence.at("window_seconds").as_int64(), 600);
    EXPECT_DOUBLE_EQ(evidence.at("baseline_per_window").as_double(), 40.0);
}

TEST(AnomalyRules, ScanRejectsEvidenceSaysHowManyWereRefusedAndHowManyHeld) {
    const AnomalyRule rule{true, std::chrono::seconds(600), 10, 0, RuleAction::hold};
    const auto evidence =
        boost::json::parse(evidence_json(Rule::scan_rejects, rule, sub_user(1, "blog1", 12, 7)))
            .as_object();
    EXPECT_EQ(evidence.at("rule").as_string(), "scan_rejects");
    EXPECT_EQ(evidence.at("observed").as_int64(), 12);
    EXPECT_EQ(evidence.at("rejected").as_int64(), 7);
    EXPECT_EQ(evidence.at("held").as_int64(), 5);
    EXPECT_EQ(evidence.at("threshold").to_number<std::int64_t>(), 10);
}

}  // namespace
}  // namespace smarthost::policy
