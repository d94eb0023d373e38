// The metrics facade and its text serialization (core/metrics/metrics.cpp), and the
// readiness verdict (core/metrics/readiness.cpp).

#include "core/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/metrics/readiness.hpp"

namespace smarthost::metrics {
namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST(Metrics, FamiliesWithoutLabelsAreExposedAtZeroBeforeAnythingIsCounted) {
    const Metrics metrics;
    const auto text = metrics.serialize();
    EXPECT_TRUE(contains(text, "# TYPE smarthost_queue_recipients gauge\n"));
    EXPECT_TRUE(contains(text, "# TYPE smarthost_delivery_latency_seconds histogram\n"));
    EXPECT_TRUE(contains(text, "smarthost_queue_recipients{state=\"deferred\"} 0\n"));
    EXPECT_TRUE(contains(text, "smarthost_db_pool_connections{state=\"in_use\"} 0\n"));
    EXPECT_TRUE(contains(text, "smarthost_recipients_deferred_total 0\n"));
}

TEST(Metrics, TheCatalogueListsEveryFamilyOnceWithItsType) {
    const Metrics metrics;
    std::set<std::string> names;
    for (const auto& family : metrics.families()) {
        EXPECT_TRUE(names.insert(family.name).second) << family.name;
        EXPECT_TRUE(family.name.starts_with("smarthost_")) << family.name;
        if (family.type == "counter") {
            EXPECT_TRUE(family.name.ends_with("_total")) << family.name;
        }
    }
    EXPECT_TRUE(names.contains("smarthost_dnsbl_lookups_total"));
    EXPECT_TRUE(names.contains("smarthost_connection_limit_hits_total"));
    EXPECT_TRUE(names.contains("smarthost_proxy_protocol_rejected_total"));
    EXPECT_TRUE(names.contains("smarthost_auth_lockouts_total"));
    EXPECT_TRUE(names.contains("smarthost_smtp_sessions_cut_total"));
    EXPECT_TRUE(names.contains("smarthost_admin_connections_refused_total"));
    EXPECT_TRUE(names.contains("smarthost_purged_rows_total"));
    EXPECT_TRUE(names.contains("smarthost_delivery_body_bytes"));
    EXPECT_TRUE(names.contains("smarthost_smtp_body_bytes"));
    EXPECT_TRUE(names.contains("smarthost_task_failures_total"));
    EXPECT_TRUE(names.contains("smarthost_sender_domain_health_problems"));
    EXPECT_TRUE(names.contains("smarthost_dkim_signatures_total"));
    EXPECT_TRUE(names.contains("smarthost_dkim_unsigned_messages_total"));
    EXPECT_TRUE(names.contains("smarthost_dkim_signing_failures_total"));
    EXPECT_TRUE(names.contains("smarthost_credential_messages_accepted_total"));
    EXPECT_TRUE(names.contains("smarthost_credential_rate_limit_hits_total"));
    EXPECT_TRUE(names.contains("smarthost_sub_user_rate_limit_hits_total"));
    EXPECT_TRUE(names.contains("smarthost_scan_results_total"));
    EXPECT_TRUE(names.contains("smarthost_scan_failures_total"));
    EXPECT_TRUE(names.contains("smarthost_scans_skipped_total"));
    EXPECT_TRUE(names.contains("smarthost_scan_duration_seconds"));
    EXPECT_TRUE(names.contains("smarthost_webhook_deliveries_total"));
    EXPECT_TRUE(names.contains("smarthost_webhook_deliveries_pending"));
    EXPECT_TRUE(names.contains("smarthost_webhook_oldest_pending_age_seconds"));
    EXPECT_TRUE(names.contains("smarthost_webhook_endpoints_failing"));
    EXPECT_TRUE(names.contains("smarthost_holds_active"));
    EXPECT_TRUE(names.contains("smarthost_abuse_rule_trips_total"));
    EXPECT_TRUE(names.contains("smarthost_delivery_failures_total"));
    EXPECT_TRUE(names.contains("smarthost_dane_checks_total"));
    EXPECT_TRUE(names.contains("smarthost_mta_sts_policy_fetches_total"));
    EXPECT_TRUE(names.contains("smarthost_mta_sts_enforced_total"));
    EXPECT_TRUE(names.contains("smarthost_destination_backoffs_total"));
    EXPECT_EQ(names.size(), 57u);
}

TEST(Metrics, LabelledIncrementsShowAsSeriesOfTheirLabels) {
    Metrics metrics;
    metrics.messages_accepted.Add({{"account", "acme"}}).Increment();
    metrics.messages_accepted.Add({{"account", "acme"}}).Increment();
    metrics.messages_accepted.Add({{"account", "globex"}}).Increment();
    metrics.messages_rejected.Add({{"reason", "policy"}}).Increment(3);
    const auto text = metrics.serialize();
    EXPECT_TRUE(contains(text, "smarthost_messages_accepted_total{account=\"acme\"} 2\n")) << text;
    EXPECT_TRUE(contains(text, "smarthost_messages_accepted_total{account=\"globex\"} 1\n"));
    EXPECT_TRUE(contains(text, "smarthost_messages_rejected_total{reason=\"policy\"} 3\n"));
    EXPECT_TRUE(contains(text, "# TYPE smarthost_messages_accepted_total counter\n"));
}

TEST(Metrics, LabelValuesAreEscapedInTheTextFormat) {
    Metrics metrics;
    metrics.messages_accepted.Add({{"account", "a\"b\\c"}}).Increment();
    EXPECT_TRUE(contains(metrics.serialize(),
                         "smarthost_messages_accepted_total{account=\"a\\\"b\\\\c\"} 1\n"));
}

TEST(Metrics, HistogramsCountIntoCumulativeBuckets) {
    Metrics metrics;
    metrics.group_commit_batch_messages.Observe(3);
    metrics.group_commit_batch_messages.Observe(40);
    const auto text = metrics.serialize();
    EXPECT_TRUE(contains(text, "smarthost_group_commit_batch_messages_bucket{le=\"2\"} 0\n"))
        << text;
    EXPECT_TRUE(contains(text, "smarthost_group_commit_batch_messages_bucket{le=\"4\"} 1\n"));
    EXPECT_TRUE(contains(text, "smarthost_group_commit_batch_messages_bucket{le=\"64\"} 2\n"));
    EXPECT_TRUE(contains(text, "smarthost_group_commit_batch_messages_bucket{le=\"+Inf\"} 2\n"));
    EXPECT_TRUE(contains(text, "smarthost_group_commit_batch_messages_sum 43\n"));
    EXPECT_TRUE(contains(text, "smarthost_group_commit_batch_messages_count 2\n"));
}

TEST(Metrics, StopwatchObservesTheElapsedSecondsOnce) {
    Metrics metrics;
    { const Stopwatch stopwatch(metrics.delivery_duration); }
    EXPECT_TRUE(contains(metrics.serialize(), "smarthost_delivery_duration_seconds_count 1\n"));
    EXPECT_TRUE(contains(metrics.serialize(),
                         "smarthost_delivery_duration_seconds_bucket{le=\"0.05\"} 1\n"));
}

DatabaseFacts current_database() {
    return DatabaseFacts{4, "", "on"};
}

TEST(Readiness, ReadyWhenTheSchemaIsCurrentListenersAreUpAndFsyncIsOn) {
    const auto readiness = judge_readiness(current_database(), 4, true);
    EXPECT_TRUE(readiness.ready());
    EXPECT_TRUE(contains(readiness.json(), R"("status":"ready")")) << readiness.json();
    ASSERT_EQ(readiness.checks.size(), 4u);
    EXPECT_EQ(readiness.checks[3].name, "durability");
    EXPECT_EQ(readiness.checks[3].detail, "fsync is on");
}

TEST(Readiness, AnUnreachableDatabaseFailsTheDatabaseMigrationAndDurabilityChecks) {
    const auto readiness =
        judge_readiness(DatabaseFacts{std::nullopt, "connection refused", ""}, 4, true);
    EXPECT_FALSE(readiness.ready());
    ASSERT_EQ(readiness.checks.size(), 4u);
    EXPECT_FALSE(readiness.checks[0].ok);
    EXPECT_EQ(readiness.checks[0].detail, "unreachable: connection refused");
    EXPECT_FALSE(readiness.checks[1].ok);
    EXPECT_TRUE(readiness.checks[2].ok);
    EXPECT_FALSE(readiness.checks[3].ok);
    EXPECT_EQ(readiness.checks[3].detail, "unknown: the database is unreachable");
    EXPECT_TRUE(contains(readiness.json(), R"("status":"not ready")"));
}

TEST(Readiness, AnOldSchemaFailsOnlyTheMigrationCheck) {
    const auto readiness = judge_readiness(DatabaseFacts{3, "", "on"}, 4, true);
    EXPECT_FALSE(readiness.ready());
    EXPECT_TRUE(readiness.checks[0].ok);
    EXPECT_FALSE(readiness.checks[1].ok);
    EXPECT_TRUE(contains(readiness.checks[1].detail, "smarthost migrate"));
    EXPECT_TRUE(readiness.checks[3].ok);
}

TEST(Readiness, ListenersDownIsNotReady) {
    const auto readiness = judge_readiness(current_database(), 4, false);
    EXPECT_FALSE(readiness.ready());
    EXPECT_EQ(readiness.checks[2].name, "listeners");
    EXPECT_FALSE(readiness.checks[2].ok);
}

// Issue 11 point 19: with fsync = off PostgreSQL acknowledges commits it may never write,
// so "250 queued" would not mean stored.
TEST(Readiness, FsyncOffIsNotReadyAndSaysWhy) {
    const auto readiness = judge_readiness(DatabaseFacts{4, "", "off"}, 4, true);
    EXPECT_FALSE(readiness.ready());
    EXPECT_TRUE(readiness.checks[0].ok);
    EXPECT_TRUE(readiness.checks[1].ok);
    EXPECT_TRUE(readiness.checks[2].ok);
    EXPECT_EQ(readiness.checks[3].name, "durability");
    EXPECT_FALSE(readiness.checks[3].ok);
    EXPECT_EQ(readiness.checks[3].detail,
              "fsync is off: a crash of the database host can lose or corrupt accepted mail; "
              "set fsync = on in postgresql.conf");
    const auto json = readiness.json();
    EXPECT_TRUE(contains(json, R"("status":"not ready")")) << json;
    EXPECT_TRUE(contains(json, R"({"name":"durability","ok":false,"detail":"fsync is off: )"))
        << json;
}

TEST(Readiness, AnUnreadableFsyncSettingIsNotReady) {
    const auto readiness = judge_readiness(DatabaseFacts{0, "", ""}, 0, true);
    EXPECT_FALSE(readiness.ready());
    EXPECT_EQ(readiness.checks[3].detail, "unknown: fsync could not be read");
}

}  // namespace
}  // namespace smarthost::metrics
