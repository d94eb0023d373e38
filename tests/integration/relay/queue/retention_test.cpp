// Retention (relay/queue/retention.cpp) against a real PostgreSQL: what the delivery
// role's purge deletes and keeps. Every test is pinned to one instant, k_now, and every
// stored time is written relative to it: the purge's cut-offs come from the caller's
// clock, so neither the calendar nor the database's now() changes a verdict.

#include "relay/queue/retention.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "core/pg/pool.hpp"
#include "relay/queue/group_commit.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::TestDatabase;

const std::chrono::system_clock::time_point k_now =
    std::chrono::sys_days{std::chrono::year{2031} / 3 / 15} + 12h;
constexpr const char* k_now_text = "2031-03-15 12:00:00+00";

class RetentionTest : public ::testing::Test {
  protected:
    TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 2, 5, 10}};
    std::int64_t account_id = db.create_account("customer");

    PurgeReport purge_at(std::chrono::system_clock::time_point now, RetentionPeriods periods = {},
                         std::size_t limit = 1000) {
        auto report = test::run_awaitable(io, queue::purge(pool, periods, now, limit));
        if (!report) throw std::runtime_error(report.error().message);
        return *report;
    }

    std::string count(const std::string& table) {
        return *db.exec("SELECT count(*) FROM " + table).at(0).at(0);
    }

    // A refusal `age` before k_now ("31 days").
    void reject(const std::string& age) {
        db.exec(
            "INSERT INTO rejections (account_id, reason, created_at) "
            "VALUES ($1, 'dnsbl', $2::timestamptz - $3::interval)",
            account_id, k_now_text, age);
    }

    void suspicious_login(const std::string& age) {
        db.exec(
            "INSERT INTO auth_suspicious_logins (account_id, username, client_ip, zones, "
            "logged_in_at) VALUES ($1, 'alice', '192.0.2.7', '{pbl.example}', "
            "$2::timestamptz - $3::interval)",
            account_id, k_now_text, age);
    }

    std::string enqueue(std::vector<std::string> addresses) {
        NewMessage message;
        message.id = new_message_id();
        message.account_id = account_id;
        message.client_ip = "192.0.2.10";
        message.envelope.sender = "sender@example.com";
        for (auto& address : addresses)
            message.envelope.recipients.push_back({address, "example.org", "", ""});
        message.body = "Subject: t\r\n\r\nhi\r\n";
        GroupCommitter committer(pool, GroupCommitter::Settings{});
        std::string id = message.id;
        Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
        if (!status) throw std::runtime_error(status.error().message);
        return id;
    }
};

TEST_F(RetentionTest, BodiesOfMessagesFinalForTheirPeriodAndOldEventsArePurged) {
    const std::string done = enqueue({"a@example.org", "b@example.org"});
    const std::string recent = enqueue({"c@example.org"});
    const std::string pending = enqueue({"d@example.org", "e@example.org"});
    db.exec("UPDATE messages SET received_at = $1::timestamptz - interval '10 days'", k_now_text);
    db.exec("UPDATE recipients SET updated_at = $1::timestamptz - interval '9 days'", k_now_text);
    db.exec("UPDATE events SET created_at = $1::timestamptz - interval '1 day'", k_now_text);
    db.exec(
        "UPDATE recipients SET state = 'delivered', updated_at = $2::timestamptz - "
        "interval '8 days' WHERE message_id = $1",
        done, k_now_text);
    db.exec(
        "UPDATE recipients SET state = 'bounced', updated_at = $2::timestamptz - interval '1 day' "
        "WHERE message_id = $1",
        recent, k_now_text);
    db.exec(
        "UPDATE recipients SET state = 'delivered', updated_at = $1::timestamptz - "
        "interval '8 days' WHERE address = 'd@example.org'",
        k_now_text);
    db.exec(
        "UPDATE events SET created_at = $2::timestamptz - interval '40 days' "
        "WHERE message_id = $1",
        done, k_now_text);

    const RetentionPeriods periods{7 * 24h, 30 * 24h, 30 * 24h, 90 * 24h};
    const auto report = purge_at(k_now, periods);
    EXPECT_EQ(report.bodies_deleted, 1u);
    EXPECT_EQ(report.events_deleted, 1u);
    EXPECT_FALSE(report.more(1000));
    auto body = [&](const std::string& id) {
        return db
            .exec(
                "SELECT body IS NULL, body_deleted_at = $2::timestamptz FROM messages "
                "WHERE id = $1",
                id, k_now_text)
            .at(0);
    };
    EXPECT_EQ(body(done), (TestDatabase::Row{"t", "t"}));  // deleted, at the caller's now
    EXPECT_EQ(body(recent), (TestDatabase::Row{"f", std::nullopt}));
    EXPECT_EQ(body(pending), (TestDatabase::Row{"f", std::nullopt}));
    EXPECT_EQ(count("events"), "2");

    const auto again = purge_at(k_now, periods);
    EXPECT_EQ(again.bodies_deleted, 0u);
    EXPECT_EQ(again.events_deleted, 0u);
}

// Issue 11 point 15: refusals and suspicious logins were kept forever.
TEST_F(RetentionTest, RejectionsAndSuspiciousLoginsPastTheirRetentionArePurged) {
    reject("31 days");
    reject("30 days 1 second");
    reject("30 days");  // exactly the retention: it stays
    reject("1 hour");
    suspicious_login("91 days");
    suspicious_login("90 days");
    suspicious_login("2 days");

    const auto report = purge_at(k_now);  // the defaults: 30 and 90 days
    EXPECT_EQ(report.rejections_deleted, 2u);
    EXPECT_EQ(report.suspicious_logins_deleted, 1u);
    EXPECT_EQ(report.events_deleted, 0u);
    EXPECT_EQ(*db.exec("SELECT string_agg(($1::timestamptz - created_at)::text, ',' ORDER BY "
                       "created_at) FROM rejections",
                       k_now_text)
                   .at(0)
                   .at(0),
              "30 days,01:00:00");
    EXPECT_EQ(*db.exec("SELECT string_agg(($1::timestamptz - logged_in_at)::text, ',' ORDER BY "
                       "logged_in_at) FROM auth_suspicious_logins",
                       k_now_text)
                   .at(0)
                   .at(0),
              "90 days,2 days");

    const auto again = purge_at(k_now);
    EXPECT_FALSE(again.any());
    // A day later the rows that were exactly at the edge have gone too.
    const auto next_day = purge_at(k_now + 24h);
    EXPECT_EQ(next_day.rejections_deleted, 1u);
    EXPECT_EQ(next_day.suspicious_logins_deleted, 1u);
}

// RFC 8461 5.1: an expired policy is never used again; the caller's clock decides.
TEST_F(RetentionTest, ExpiredMtaStsPoliciesArePurged) {
    for (const auto& [domain, offset] :
         {std::pair{"gone.example", "-1 second"}, std::pair{"edge.example", "0 seconds"},
          std::pair{"kept.example", "1 second"}})
        db.exec(
            "INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, "
            "fetched_at, expires_at) VALUES ($1, 'id1', 'enforce', '{mx.example}', 60, "
            "$2::timestamptz - interval '1 minute', $2::timestamptz + $3::interval)",
            domain, k_now_text, offset);
    EXPECT_EQ(purge_at(k_now).mta_sts_policies_deleted, 2u);
    EXPECT_EQ(*db.exec("SELECT string_agg(domain, ',') FROM mta_sts_policies").at(0).at(0),
              "kept.example");
    EXPECT_EQ(purge_at(k_now + 1s).mta_sts_policies_deleted, 1u);
}

TEST_F(RetentionTest, ThePeriodsAreTheCallers) {
    reject("2 days");
    suspicious_login("2 days");
    RetentionPeriods periods;
    periods.rejections = 24h;
    EXPECT_EQ(purge_at(k_now, periods).rejections_deleted, 1u);
    EXPECT_EQ(count("auth_suspicious_logins"), "1");
    periods.suspicious_logins = 24h;
    EXPECT_EQ(purge_at(k_now, periods).suspicious_logins_deleted, 1u);
    EXPECT_EQ(count("auth_suspicious_logins"), "0");
}

TEST_F(RetentionTest, LargeBacklogsGoInBatchesOfTheLimitOldestFirst) {
    for (const char* age : {"35 days", "34 days", "33 days", "32 days", "31 days"})
        reject(age);
    reject("1 day");
    std::vector<std::size_t> batches;
    for (;;) {
        const auto report = purge_at(k_now, {}, 2);
        batches.push_back(report.rejections_deleted);
        if (!report.more(2)) break;
        ASSERT_LT(batches.size(), 10u);
    }
    EXPECT_EQ(batches, (std::vector<std::size_t>{2, 2, 1}));
    EXPECT_EQ(count("rejections"), "1");
}

// One owner per table: the auth throttle deletes its counting rows past its own window;
// the retention purge never touches them, whatever their age.
TEST_F(RetentionTest, AuthFailuresAndLockoutsAreLeftToTheAuthThrottle) {
    db.exec(
        "INSERT INTO auth_failures (kind, key, failed_at) "
        "VALUES ('username', 'alice', $1::timestamptz - interval '400 days')",
        k_now_text);
    db.exec(
        "INSERT INTO auth_lockouts (kind, key, locked_at, locked_until, failures) VALUES "
        "('username', 'alice', $1::timestamptz - interval '400 days', "
        "$1::timestamptz - interval '399 days', 10)",
        k_now_text);
    RetentionPeriods shortest{0s, 24h, 24h, 24h};
    purge_at(k_now, shortest);
    EXPECT_EQ(count("auth_failures"), "1");
    EXPECT_EQ(count("auth_lockouts"), "1");
}

}  // namespace
}  // namespace smarthost::queue
