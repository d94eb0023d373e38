// What the delivery role counts: here, the rows its retention purge deleted, by table.

#include "relay/delivery/delivery_metrics.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/metrics/metrics.hpp"

namespace smarthost::delivery {
namespace {

double purged(const std::string& table) {
    return metrics::global().purged_rows.Add({{"table", table}}).Value();
}

TEST(DeliveryMetrics, PurgedRowsAreCountedPerTableBodiesAside) {
    const double events = purged("events");
    const double rejections = purged("rejections");
    const double logins = purged("auth_suspicious_logins");
    const double policies = purged("mta_sts_policies");
    queue::PurgeReport report;
    report.bodies_deleted = 7;  // bodies are a column set to NULL, not rows
    report.events_deleted = 3;
    report.rejections_deleted = 2;
    report.suspicious_logins_deleted = 1;
    report.mta_sts_policies_deleted = 4;
    count_purged(report);
    count_purged(queue::PurgeReport{});
    EXPECT_EQ(purged("events") - events, 3);
    EXPECT_EQ(purged("rejections") - rejections, 2);
    EXPECT_EQ(purged("auth_suspicious_logins") - logins, 1);
    EXPECT_EQ(purged("mta_sts_policies") - policies, 4);
    const auto text = metrics::global().serialize();
    EXPECT_NE(text.find("smarthost_purged_rows_total{table=\"rejections\"}"), std::string::npos);
    EXPECT_EQ(text.find("table=\"messages\""), std::string::npos);
}

TEST(DeliveryMetrics, PurgedRowsSeriesExistBeforeTheFirstPurge) {
    const metrics::Metrics fresh;
    const auto text = fresh.serialize();
    for (const char* table : {"events", "rejections", "auth_suspicious_logins", "mta_sts_policies"})
        EXPECT_NE(text.find(std::string("smarthost_purged_rows_total{table=\"") + table + "\"} 0"),
                  std::string::npos)
            << table << "\n"
            << text;
}

}  // namespace
}  // namespace smarthost::delivery
