// The anomaly detector against a real PostgreSQL: messages, delivery events and logins
// written as smarthost writes them, one evaluation, and the trips, holds and suspensions
// it leaves. Every time is the database's own now().

#include "relay/policy/anomaly_detector.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>

#include "core/pg/pool.hpp"
#include "relay/policy/rejection_log.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::policy {
namespace {

using namespace std::chrono_literals;
using test::run_awaitable;

class AnomalyDetectorTest : public ::testing::Test {
  protected:
    AnomalyDetectorTest() : pool_(io_.get_executor(), {db_.url(), 2, 5}) {
        account_ = db_.create_account("hosting");
        other_ = db_.create_account("other");
        stolen_ = credential(account_, "wordpress");
        shop_ = credential(account_, "shop");
        // Every rule off but the one a test turns on.
        for (auto* rule :
             {&config_.volume, &config_.remote_rejections, &config_.spam_blocks,
              &config_.scan_rejects, &config_.login_networks, &config_.suspicious_logins})
            rule->enabled = false;
    }

    std::int64_t credential(std::int64_t account, const std::string& username) {
        return std::stoll(*db_.exec("INSERT INTO credentials (account_id, username, secret_hash) "
                                    "VALUES ($1, $2, 'x') RETURNING id",
                                    account, username)
                               .at(0)
                               .at(0));
    }

    // `count` accepted messages of the unit, `ago` seconds ago, from `networks` /24s; each
    // with one recipient whose outcome event has `reply` (none when empty).
    void messages(std::int64_t account, std::optional<std::int64_t> credential, int count,
                  int ago = 0, int networks = 1, const std::string& kind = {},
                  const std::string& reply = {}, const std::string& sub_user = {}) {
        db_.exec(
            "WITH m AS (INSERT INTO messages (id, account_id, credential_id, envelope_sender, "
            "client_ip, size_bytes, received_at, sub_user) "
            "SELECT gen_random_uuid(), $1, $2::bigint, 'a@hosting.example', "
            "('10.' || (i % $4) || '.0.1')::inet, 100, now() - $3::int * interval '1 second', "
            "nullif($8, '') "
            "FROM generate_series(1, $5::int) AS i RETURNING id, received_at), "
            "r AS (INSERT INTO recipients (message_id, address, domain, state) "
            "SELECT id, 'x@dest.example', 'dest.example', 'queued' FROM m RETURNING id, "
            "message_id), "
            "accepted AS (INSERT INTO events (message_id, kind, created_at) "
            "SELECT id, 'accepted', received_at FROM m) "
            "INSERT INTO events (message_id, recipient_id, kind, reply) "
            "SELECT message_id, id, $6, $7 FROM r WHERE $6 <> ''",
            account, credential ? std::to_string(*credential) : std::optional<std::string>{}, ago,
            networks, count, kind, reply, sub_user);
    }

    // `count` messages of the sub-user that rspamd refused at the final dot, recorded as the
    // session records them.
    void scan_refusals(std::optional<std::int64_t> credential, const std::string& sub_user,
                       int count) {
        RejectionLog log(io_.get_executor(), pool_);
        for (int i = 0; i < count; ++i)
            log.record(account_, "content_scan",
                       {credential,
                        sub_user.empty() ? std::nullopt : std::optional<std::string>(sub_user)});
        io_.restart();
        io_.run();  // the inserts run detached
    }

    // `count` messages of the sub-user that rspamd scanned with `action` ('hold': stored
    // held for review), accepted `ago` seconds ago. Every test message is scanned, so the
    // unscanned ones are those just inserted.
    void scanned(std::int64_t credential, const std::string& sub_user, int count,
                 const std::string& action, int ago = 0) {
        messages(account_, credential, count, ago, 1, {}, {}, sub_user);
        db_.exec("UPDATE messages SET scan_action = $1, scan_score = 1 WHERE scan_action IS NULL",
                 action);
    }

    std::size_t evaluate() {
        AnomalyDetector detector(io_.get_executor(), pool_, config_);
        auto trips = run_awaitable(io_, detector.evaluate());
        EXPECT_TRUE(trips.ok()) << trips.error().message;
        return trips.ok() ? *trips : 0;
    }

    std::string scalar(const std::string& sql) { return db_.exec(sql).at(0).at(0).value_or(""); }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    AbuseConfig config_;
    std::int64_t account_ = 0;
    std::int64_t other_ = 0;
    std::int64_t stolen_ = 0;
    std::int64_t shop_ = 0;
};

TEST_F(AnomalyDetectorTest, AVolumeBurstOfOneCredentialHoldsThatCredentialOnly) {
    config_.volume = {true, 600s, 20, 5.0, RuleAction::hold};
    messages(account_, shop_, 40, 86400);  // the shop's usual day, yesterday
    messages(account_, shop_, 3);
    messages(account_, stolen_, 30);  // the burst
    messages(other_, std::nullopt, 10);

    EXPECT_EQ(evaluate(), 1u);
    EXPECT_EQ(scalar("SELECT rule || ' ' || action || ' ' || credential_id FROM rule_trips"),
              "volume hold " + std::to_string(stolen_));
    EXPECT_EQ(scalar("SELECT reason || ' ' || credential_id || ' ' || (evidence->>'observed') "
                     "FROM holds WHERE released_at IS NULL"),
              "rule:volume " + std::to_string(stolen_) + " 30");
    // The hold's job was started with it, in the same transaction.
    EXPECT_EQ(scalar("SELECT count(*) FROM queue_jobs WHERE action = 'hold'"), "1");

    // The next round trips nothing new: once per window, and not while held.
    EXPECT_EQ(evaluate(), 0u);
    EXPECT_EQ(scalar("SELECT count(*) FROM rule_trips"), "1");
}

TEST_F(AnomalyDetectorTest, ABurstOfOneSubUserHoldsThatSubUserOnly) {
    config_.volume = {true, 600s, 20, 5.0, RuleAction::suspend};
    messages(account_, shop_, 30, 0, 1, {}, {}, "blog1");  // the panel's one credential
    messages(account_, shop_, 5, 0, 1, {}, {}, "shop");
    EXPECT_EQ(evaluate(), 1u);
    // Suspend on a sub-user is a hold: a sub-user has no password to disable.
    EXPECT_EQ(scalar("SELECT reason || ' ' || sub_user || ' ' || (credential_id IS NULL) "
                     "FROM holds WHERE released_at IS NULL"),
              "rule:volume blog1 true");
    EXPECT_EQ(scalar("SELECT enabled FROM credentials WHERE id = " + std::to_string(shop_)), "t");
    EXPECT_EQ(scalar("SELECT sub_user || ' ' || action FROM rule_trips"), "blog1 suspend");
}

TEST_F(AnomalyDetectorTest, AnAccountAtItsUsualPaceIsNotASpike) {
    config_.volume = {true, 600s, 20, 5.0, RuleAction::hold};
    // 7 days × 144 windows × ~30: a big sender's ordinary rate.
    for (int day = 1; day <= 3; ++day)
        messages(account_, shop_, 3000, day * 86400 / 2);
    messages(account_, shop_, 30);
    config_.baseline = std::chrono::seconds(2 * 86400);
    EXPECT_EQ(evaluate(), 0u);
}

// A unit's baseline is counted over days once, then reused for a while: a busy sender is
// not recounted every round. (The history deleted here would otherwise make its ordinary
// rate a spike.)
TEST_F(AnomalyDetectorTest, AUnitsBaselineIsReusedAcrossRounds) {
    config_.volume = {true, 600s, 20, 5.0, RuleAction::hold};
    config_.baseline = std::chrono::seconds(2 * 86400);
    for (int day = 1; day <= 3; ++day)
        messages(account_, shop_, 3000, day * 86400 / 2);
    messages(account_, shop_, 30);
    AnomalyDetector detector(io_.get_executor(), pool_, config_);
    auto first = run_awaitable(io_, detector.evaluate());
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(*first, 0u);
    db_.exec("DELETE FROM messages WHERE received_at < now() - interval '1 hour'");
    auto second = run_awaitable(io_, detector.evaluate());
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(*second, 0u);
    // A detector without that baseline counts again, and sees the spike.
    EXPECT_EQ(evaluate(), 1u);
}

TEST_F(AnomalyDetectorTest, RemoteRejectionsOfAHarvestedListHoldTheAccount) {
    config_.remote_rejections = {true, 600s, 10, 0.3, RuleAction::hold};
    messages(account_, std::nullopt, 12, 0, 1, "bounced",
             "550 5.1.1 <x@dest.example>: no such user");
    messages(account_, std::nullopt, 8, 0, 1, "delivered", "250 2.0.0 Ok");
    EXPECT_EQ(evaluate(), 1u);
    EXPECT_EQ(scalar("SELECT reason || ' ' || coalesce(credential_id::text, 'account') || ' ' || "
                     "(evidence->>'attempts') FROM holds"),
              "rule:remote_rejections account 20");
}

TEST_F(AnomalyDetectorTest, SpamBlocksAlertWithoutHolding) {
    config_.spam_blocks = {true, 600s, 5, 0, RuleAction::alert};
    messages(account_, stolen_, 6, 0, 1, "deferred",
             "421 4.7.28 Our system has detected an unusual rate of unsolicited mail");
    EXPECT_EQ(evaluate(), 1u);
    EXPECT_EQ(scalar("SELECT action FROM rule_trips"), "alert");
    EXPECT_EQ(scalar("SELECT count(*) FROM holds"), "0");
}

TEST_F(AnomalyDetectorTest, ACredentialUsedFromManyNetworksIsDisabledWhenTheActionIsSuspend) {
    config_.login_networks = {true, 3600s, 5, 0, RuleAction::suspend};
    messages(account_, stolen_, 12, 0, 6);  // six /24s
    messages(account_, shop_, 12, 0, 2);
    EXPECT_EQ(evaluate(), 1u);
    EXPECT_EQ(scalar("SELECT enabled FROM credentials WHERE id = " + std::to_string(stolen_)), "f");
    EXPECT_EQ(scalar("SELECT enabled FROM credentials WHERE id = " + std::to_string(shop_)), "t");
    // Disabled credential → its hold, as if an operator had disabled it.
    EXPECT_EQ(scalar("SELECT reason FROM holds WHERE released_at IS NULL"), "credential_disabled");
    EXPECT_EQ(scalar("SELECT status FROM accounts WHERE id = " + std::to_string(account_)),
              "active");
}

TEST_F(AnomalyDetectorTest, SuspiciousLoginsDisableTheCredentialWhenTheActionIsSuspend) {
    config_.suspicious_logins = {true, 3600s, 2, 0, RuleAction::suspend};
    for (int i = 0; i < 2; ++i)
        db_.exec(
            "INSERT INTO auth_suspicious_logins (account_id, credential_id, username, "
            "client_ip, zones) VALUES ($1, $2, 'wordpress', '192.0.2.1', '{bad.test}')",
            account_, stolen_);
    EXPECT_EQ(evaluate(), 1u);
    // A credential's trip with action suspend disables the credential, not the account.
    EXPECT_EQ(scalar("SELECT enabled FROM credentials WHERE id = " + std::to_string(stolen_)), "f");
}

TEST_F(AnomalyDetectorTest, AnAccountSuspendedByARuleIsToldToWebhooks) {
    config_.remote_rejections = {true, 600s, 10, 0.3, RuleAction::suspend};
    db_.exec(
        "INSERT INTO webhook_endpoints (account_id, url, event_types, secret) VALUES "
        "($1, 'http://127.0.0.1:9/hook', '{account.suspended,account.held}', 'whsec_x')",
        account_);
    messages(account_, std::nullopt, 12, 0, 1, "bounced", "550 5.1.1 no such user");
    EXPECT_EQ(evaluate(), 1u);
    EXPECT_EQ(scalar("SELECT status || ' ' || suspended_reason FROM accounts WHERE id = " +
                     std::to_string(account_)),
              "suspended anomaly rule remote_rejections");
    EXPECT_EQ(scalar("SELECT string_agg(kind, ',' ORDER BY seq) FROM webhook_events"),
              "account.suspended,account.held");
    EXPECT_EQ(scalar("SELECT payload->'data'->>'reason' FROM webhook_events WHERE kind = "
                     "'account.suspended'"),
              "anomaly rule remote_rejections");
}

TEST_F(AnomalyDetectorTest, RspamdsRefusalsAndHoldsOfOneSubUserHoldThatSubUserOnly) {
    config_.scan_rejects = {true, 600s, 10, 0, RuleAction::hold};
    // A hacked blog behind the panel's one credential: 6 refused and 4 held, 10 together.
    scan_refusals(shop_, "blog1", 6);
    scanned(shop_, "blog1", 4, "hold");
    // The shop: below the threshold with what counts, whatever else it has.
    scan_refusals(shop_, "shop", 3);
    scanned(shop_, "shop", 2, "hold");
    scanned(shop_, "shop", 20, "add_header");
    scanned(shop_, "shop", 20, "hold", 3600);
    for (int i = 0; i < 20; ++i)  // refused for other reasons, or long ago
        db_.exec(
            "INSERT INTO rejections (account_id, credential_id, sub_user, reason, created_at) "
            "VALUES ($1, $2, 'shop', $3, now() - $4::int * interval '1 second')",
            account_, shop_, i % 2 ? "content_scan" : "sender_domain", i % 2 ? 3600 : 0);

    EXPECT_EQ(evaluate(), 1u);
    EXPECT_EQ(scalar("SELECT reason || ' ' || sub_user || ' ' || (credential_id IS NULL) || ' ' || "
                     "(evidence->>'rejected') || ' ' || (evidence->>'held') "
                     "FROM holds WHERE released_at IS NULL"),
              "rule:scan_rejects blog1 true 6 4");
    EXPECT_EQ(scalar("SELECT count(*) FROM holds WHERE sub_user = 'shop'"), "0");
    EXPECT_EQ(scalar("SELECT rule || ' ' || action || ' ' || sub_user FROM rule_trips"),
              "scan_rejects hold blog1");
}

TEST_F(AnomalyDetectorTest, RspamdsRefusalsOfACredentialWithoutSubUsersHoldTheCredential) {
    config_.scan_rejects = {true, 600s, 10, 0, RuleAction::hold};
    scan_refusals(stolen_, {}, 10);
    scan_refusals(shop_, {}, 4);
    EXPECT_EQ(evaluate(), 1u);
    EXPECT_EQ(scalar("SELECT reason || ' ' || credential_id FROM holds"),
              "rule:scan_rejects " + std::to_string(stolen_));
}

TEST_F(AnomalyDetectorTest, ScanRejectsBelowTheThresholdTripNothing) {
    config_.scan_rejects = {true, 600s, 10, 0, RuleAction::hold};
    scan_refusals(shop_, "blog1", 5);
    scanned(shop_, "blog1", 4, "hold");
    EXPECT_EQ(evaluate(), 0u);
    EXPECT_EQ(scalar("SELECT count(*) FROM rule_trips"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM holds"), "0");
}

TEST_F(AnomalyDetectorTest, OldActivityOutsideTheWindowTripsNothing) {
    config_.volume = {true, 600s, 20, 0, RuleAction::hold};
    messages(account_, stolen_, 50, 3600);
    EXPECT_EQ(evaluate(), 0u);
}

}  // namespace
}  // namespace smarthost::policy
