#include "core/pg/migrations.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/support/test_database.hpp"

namespace smarthost::pg {
namespace {

using test::TestDatabase;

int latest_bundled() {
    return bundled_migrations().back().version;
}

TEST(Migrations, FreshDatabaseGetsEveryTableAndTheLatestVersion) {
    TestDatabase db(TestDatabase::Schema::empty);
    auto report = migrate(db.url());
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->from_version, 0);
    EXPECT_EQ(report->to_version, latest_bundled());
    EXPECT_EQ(report->applied, static_cast<int>(bundled_migrations().size()));

    for (const char* table :
         {"accounts", "credentials", "allowed_networks", "sender_domains", "messages", "recipients",
          "events", "suppressions", "api_tokens", "schema_migrations"}) {
        auto rows = db.exec("SELECT to_regclass($1) IS NOT NULL", std::string(table));
        EXPECT_EQ(rows.at(0).at(0), "t") << table;
    }
    auto version = current_version(db.url());
    ASSERT_TRUE(version) << version.error().message;
    EXPECT_EQ(*version, latest_bundled());
}

TEST(Migrations, EmptyDatabaseIsVersionZero) {
    TestDatabase db(TestDatabase::Schema::empty);
    auto version = current_version(db.url());
    ASSERT_TRUE(version) << version.error().message;
    EXPECT_EQ(*version, 0);
}

TEST(Migrations, RepeatedRunIsANoOp) {
    TestDatabase db;
    auto report = migrate(db.url());
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->applied, 0);
    EXPECT_EQ(report->from_version, latest_bundled());
    EXPECT_EQ(report->to_version, latest_bundled());
}

TEST(Migrations, ConcurrentRunsApplyEachMigrationOnce) {
    TestDatabase db(TestDatabase::Schema::empty);
    constexpr int runs = 6;
    std::vector<Result<MigrationReport>> reports(runs, Error{"not run", "", false});
    std::vector<std::thread> threads;
    for (int i = 0; i < runs; ++i) {
        threads.emplace_back([&, i] { reports[i] = migrate(db.url()); });
    }
    for (auto& thread : threads)
        thread.join();

    int applied = 0;
    for (auto& report : reports) {
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_EQ(report->to_version, latest_bundled());
        applied += report->applied;
    }
    EXPECT_EQ(applied, static_cast<int>(bundled_migrations().size()));
    auto rows = db.exec("SELECT count(*), count(DISTINCT version) FROM schema_migrations");
    EXPECT_EQ(rows.at(0).at(0), std::to_string(bundled_migrations().size()));
    EXPECT_EQ(rows.at(0).at(1), rows.at(0).at(0));
}

TEST(Migrations, RefusesADatabaseNewerThanTheBinary) {
    TestDatabase db;
    db.exec("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future')");
    auto report = migrate(db.url());
    ASSERT_FALSE(report);
    EXPECT_NE(report.error().message.find("9999"), std::string::npos) << report.error().message;
    EXPECT_FALSE(report.error().unavailable);
    auto version = current_version(db.url());
    ASSERT_TRUE(version);
    EXPECT_EQ(*version, 9999);
}

TEST(Migrations, UnreachableServerIsUnavailable) {
    auto report = migrate("postgresql://smarthost@127.0.0.1:1/none?connect_timeout=2");
    ASSERT_FALSE(report);
    EXPECT_TRUE(report.error().unavailable);
}

}  // namespace
}  // namespace smarthost::pg
