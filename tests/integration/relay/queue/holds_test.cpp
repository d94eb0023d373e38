// Holds and bulk queue actions against a real PostgreSQL: claims park a held unit's due
// mail, hold jobs park the rest, release jobs give it back, and filtered actions visit the
// queue in batches.
#include "relay/queue/holds.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/metrics/metrics.hpp"
#include "core/metrics/queue_gauges.hpp"
#include "core/pg/pool.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/queue/queue_jobs.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::TestDatabase;

class HoldsTest : public ::testing::Test {
  protected:
    TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 2, 5, 10}};
    std::int64_t spammer = db.create_account("spammer");
    std::int64_t bystander = db.create_account("bystander");

    std::int64_t credential(std::int64_t account, const std::string& username) {
        return std::stoll(*db.exec("INSERT INTO credentials (account_id, username, secret_hash) "
                                   "VALUES ($1, $2, 'x') RETURNING id",
                                   std::to_string(account), username)
                               .at(0)
                               .at(0));
    }

    std::string enqueue(std::int64_t account, const std::vector<std::string>& addresses,
                        std::optional<std::int64_t> credential_id = std::nullopt,
                        const std::string& sender = "sender@example.com") {
        NewMessage message;
        message.id = new_message_id();
        message.account_id = account;
        message.credential_id = credential_id;
        message.client_ip = "192.0.2.10";
        message.envelope.sender = sender;
        for (const auto& address : addresses)
            message.envelope.recipients.push_back(
                {address, address.substr(address.find('@') + 1), "", ""});
        message.body = "Subject: t\r\n\r\nhi\r\n";
        GroupCommitter committer(pool, GroupCommitter::Settings{});
        std::string id = message.id;
        Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
        if (!status) throw std::runtime_error(status.error().message);
        return id;
    }

    void suspend(std::int64_t account) {
        db.exec(
            "UPDATE accounts SET status = 'suspended', suspended_reason = 'spam run' "
            "WHERE id = $1",
            std::to_string(account));
        db.exec(std::string(reconcile_account_hold_sql()), std::to_string(account), "test");
        db.exec(std::string(start_hold_jobs_sql()));
    }

    void resume(std::int64_t account) {
        db.exec("UPDATE accounts SET status = 'active', suspended_reason = NULL WHERE id = $1",
                std::to_string(account));
        db.exec(std::string(reconcile_account_hold_sql()), std::to_string(account), "test");
        db.exec(std::string(start_hold_jobs_sql()));
    }

    Claim claim() {
        Claims claims(pool);
        auto claimed = test::run_awaitable(io, claims.claim("worker", 60s, 100, 10, 1 << 20));
        if (!claimed) throw std::runtime_error(claimed.error().message);
        return std::move(*claimed);
    }

    std::vector<std::string> addresses_of(const Claim& claim) {
        std::vector<std::string> addresses;
        for (const auto& domain : claim.domains)
            for (const auto& message : domain.messages)
                for (const auto& recipient : message.recipients)
                    addresses.push_back(recipient.address);
        std::sort(addresses.begin(), addresses.end());
        return addresses;
    }

    // address → state, for every recipient.
    std::map<std::string, std::string> states() {
        std::map<std::string, std::string> result;
        for (const auto& row : db.exec("SELECT address, state FROM recipients"))
            result[*row.at(0)] = *row.at(1);
        return result;
    }

    JobProgress run_jobs(std::size_t batch_size = 1000) {
        QueueJobs::Settings settings;
        settings.batch_size = batch_size;
        settings.dsn.reporting_host = "relay.test";
        QueueJobs jobs(io.get_executor(), pool, "test-runner", settings);
        JobProgress last;
        for (const auto& row :
             db.exec("SELECT id FROM queue_jobs WHERE state = 'running' ORDER BY id")) {
            auto progress = test::run_awaitable(io, jobs.work_on(std::stoll(*row.at(0)), 60s));
            if (!progress) throw std::runtime_error(progress.error().message);
            last = *progress;
        }
        return last;
    }
};

TEST_F(HoldsTest, ClaimsParkTheDueMailOfASuspendedAccountAndDeliverTheRest) {
    enqueue(spammer, {"a@one.example", "b@two.example"});
    enqueue(bystander, {"c@one.example"});
    suspend(spammer);

    const auto claimed = claim();
    EXPECT_EQ(addresses_of(claimed), (std::vector<std::string>{"c@one.example"}));
    auto now = states();
    EXPECT_EQ(now["a@one.example"], "held");
    EXPECT_EQ(now["b@two.example"], "held");
    EXPECT_EQ(now["c@one.example"], "in_flight");
    // Parked under the suspension's hold, with an event saying why.
    const auto held = db.exec(
        "SELECT count(*) FROM recipients r JOIN holds h ON h.id = r.hold_id "
        "WHERE r.state = 'held' AND h.reason = 'account_suspended' AND h.account_id = $1",
        std::to_string(spammer));
    EXPECT_EQ(held.at(0).at(0), "2");
    EXPECT_EQ(db.exec("SELECT count(*) FROM events WHERE kind = 'held' "
                      "AND reply = 'held: account_suspended'")
                  .at(0)
                  .at(0),
              "2");
}

TEST_F(HoldsTest, HoldJobParksMailNotYetDueAndResumeReleasesItDueNow) {
    enqueue(spammer, {"a@one.example"});
    enqueue(spammer, {"later@one.example"});
    db.exec(
        "UPDATE recipients SET state = 'deferred', attempts = 2, "
        "next_attempt_at = now() + interval '1 hour' WHERE address = 'later@one.example'");
    enqueue(bystander, {"c@one.example"});
    suspend(spammer);

    const auto progress = run_jobs();
    EXPECT_EQ(progress.state, "done");
    EXPECT_EQ(progress.recipients, 2);
    auto now = states();
    EXPECT_EQ(now["a@one.example"], "held");
    EXPECT_EQ(now["later@one.example"], "held");
    EXPECT_EQ(now["c@one.example"], "queued");

    // Suspending again places no second hold.
    suspend(spammer);
    EXPECT_EQ(db.exec("SELECT count(*) FROM holds").at(0).at(0), "1");

    resume(spammer);
    EXPECT_EQ(db.exec("SELECT count(*) FROM holds WHERE released_at IS NULL").at(0).at(0), "0");
    run_jobs();
    now = states();
    EXPECT_EQ(now["a@one.example"], "queued");
    EXPECT_EQ(now["later@one.example"], "deferred");
    // Due now, not an hour from now, and no longer tied to the hold.
    EXPECT_EQ(db.exec("SELECT count(*) FROM recipients WHERE next_attempt_at <= now() "
                      "AND hold_id IS NULL")
                  .at(0)
                  .at(0),
              "3");
    EXPECT_EQ(addresses_of(claim()),
              (std::vector<std::string>{"a@one.example", "c@one.example", "later@one.example"}));
}

TEST_F(HoldsTest, DisabledCredentialHoldsOnlyItsOwnMail) {
    const auto stolen = credential(spammer, "wordpress");
    const auto shop = credential(spammer, "shop");
    enqueue(spammer, {"spam@one.example"}, stolen);
    enqueue(spammer, {"order@one.example"}, shop);
    db.exec("UPDATE credentials SET enabled = false WHERE id = $1", std::to_string(stolen));
    db.exec(std::string(reconcile_credential_hold_sql()), std::to_string(stolen), "test");
    db.exec(std::string(start_hold_jobs_sql()));

    EXPECT_EQ(addresses_of(claim()), (std::vector<std::string>{"order@one.example"}));
    EXPECT_EQ(states()["spam@one.example"], "held");

    db.exec("UPDATE credentials SET enabled = true WHERE id = $1", std::to_string(stolen));
    db.exec(std::string(reconcile_credential_hold_sql()), std::to_string(stolen), "test");
    db.exec(std::string(start_hold_jobs_sql()));
    run_jobs();
    EXPECT_EQ(addresses_of(claim()), (std::vector<std::string>{"spam@one.example"}));
}

TEST_F(HoldsTest, FilteredActionVisitsTheQueueInBatchesAndCountsWhatItChanged) {
    for (int i = 0; i < 7; ++i)
        enqueue(spammer, {"r" + std::to_string(i) + "@target.example", "x@other.example"});
    enqueue(bystander, {"keep@target.example"});
    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by) VALUES ('hold', "
        "jsonb_build_object('account_id', $1::bigint, 'recipient_domain', 'target.example'), "
        "'test')",
        std::to_string(spammer));
    const auto progress = run_jobs(3);
    EXPECT_EQ(progress.state, "done");
    EXPECT_EQ(progress.recipients, 7);
    // 7 queued in batches of 3 (3, 3, 1), then an empty look at 'deferred'.
    EXPECT_EQ(db.exec("SELECT batches FROM queue_jobs").at(0).at(0), "4");
    auto now = states();
    for (int i = 0; i < 7; ++i)
        EXPECT_EQ(now["r" + std::to_string(i) + "@target.example"], "held");
    EXPECT_EQ(now["x@other.example"], "queued");
    EXPECT_EQ(now["keep@target.example"], "queued");

    // A release by filter gives them back, and counts the same.
    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by) VALUES ('release', "
        "jsonb_build_object('recipient_domain', 'target.example'), 'test')");
    EXPECT_EQ(run_jobs(2).recipients, 7);
    EXPECT_EQ(db.exec("SELECT count(*) FROM recipients WHERE state = 'queued'").at(0).at(0), "15");
}

TEST_F(HoldsTest, ReleaseByFilterLeavesWhatAnActiveHoldParked) {
    enqueue(spammer, {"a@one.example"});
    suspend(spammer);
    run_jobs();
    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by) VALUES ('release', "
        "jsonb_build_object('account_id', $1::bigint), 'test')",
        std::to_string(spammer));
    EXPECT_EQ(run_jobs().recipients, 0);
    EXPECT_EQ(states()["a@one.example"], "held");
}

TEST_F(HoldsTest, CancelAndRetryBySenderDomainAndTime) {
    enqueue(spammer, {"a@one.example"}, std::nullopt, "bulk@Spam.Example");
    enqueue(spammer, {"b@one.example"}, std::nullopt, "ok@shop.example");
    db.exec(
        "UPDATE recipients SET state = 'deferred', attempts = 1, "
        "next_attempt_at = now() + interval '1 hour'");
    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by) VALUES ('cancel', "
        "jsonb_build_object('sender_domain', 'spam.example', 'received_before', "
        "(now() + interval '1 minute')::text), 'test')");
    EXPECT_EQ(run_jobs().recipients, 1);
    EXPECT_EQ(states()["a@one.example"], "cancelled");
    EXPECT_EQ(db.exec("SELECT count(*) FROM events WHERE kind = 'cancelled'").at(0).at(0), "1");

    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by) VALUES ('retry', "
        "jsonb_build_object('sender', 'OK@shop.example'), 'test')");
    EXPECT_EQ(run_jobs().recipients, 1);
    EXPECT_EQ(addresses_of(claim()), (std::vector<std::string>{"b@one.example"}));
}

TEST_F(HoldsTest, PlacingAndReleasingAHoldWriteOneWebhookEventEach) {
    db.exec(
        "INSERT INTO webhook_endpoints (account_id, url, event_types, secret) VALUES "
        "($1, 'http://127.0.0.1:9/hook', '{account.held,account.released}', 'whsec_x')",
        std::to_string(spammer));
    suspend(spammer);
    suspend(spammer);  // no second hold, no second event
    resume(spammer);
    const auto events = db.exec(
        "SELECT kind, payload->'data'->>'reason', payload->'data'->>'by' FROM webhook_events "
        "WHERE account_id = $1 ORDER BY seq",
        std::to_string(spammer));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(*events[0][0], "account.held");
    EXPECT_EQ(*events[0][1], "account_suspended");
    EXPECT_EQ(*events[0][2], "test");
    EXPECT_EQ(*events[1][0], "account.released");
    // One delivery each, for the endpoint that asked.
    EXPECT_EQ(db.exec("SELECT count(*) FROM webhook_deliveries").at(0).at(0), "2");
    // The bystander has no endpoint: its hold writes no event.
    suspend(bystander);
    EXPECT_EQ(db.exec("SELECT count(*) FROM webhook_events").at(0).at(0), "2");
}

TEST_F(HoldsTest, AJobLeasedByAnotherProcessIsLeftAlone) {
    enqueue(spammer, {"a@one.example"});
    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by, lease_owner, lease_expires_at) "
        "VALUES ('hold', jsonb_build_object('account_id', $1::bigint), 'test', 'other', "
        "now() + interval '1 minute')",
        std::to_string(spammer));
    const auto progress = run_jobs();
    EXPECT_FALSE(progress.ours);
    EXPECT_EQ(progress.state, "running");
    EXPECT_EQ(states()["a@one.example"], "queued");

    // Once its lease has run out, the job is taken over.
    db.exec("UPDATE queue_jobs SET lease_expires_at = now() - interval '1 second'");
    EXPECT_EQ(run_jobs().recipients, 1);
    EXPECT_EQ(states()["a@one.example"], "held");
}

// A bouncing cancel: one report per message to its sender, listing the recipients it
// cancelled whose NOTIFY asks for failures; none for a null sender. The reports are
// queued under the account and are not cancelled by the job that made them.
TEST_F(HoldsTest, BouncingCancelReportsToEachSenderOnce) {
    enqueue(spammer, {"a@one.example", "b@one.example"}, std::nullopt, "owner@shop.example");
    enqueue(spammer, {"c@two.example"}, std::nullopt, "");
    enqueue(spammer, {"d@one.example"}, std::nullopt, "quiet@shop.example");
    enqueue(bystander, {"e@one.example"});
    db.exec("UPDATE recipients SET dsn_notify = 'NEVER' WHERE address = 'd@one.example'");
    db.exec(
        "INSERT INTO queue_jobs (action, filter, bounce, created_by) VALUES ('cancel', "
        "jsonb_build_object('account_id', $1::bigint), true, 'test')",
        std::to_string(spammer));
    EXPECT_EQ(run_jobs(2).recipients, 4);  // batches of 2: notes cross batches

    for (const auto* address : {"a@one.example", "b@one.example", "c@two.example", "d@one.example"})
        EXPECT_EQ(states()[address], "cancelled") << address;
    EXPECT_EQ(states()["e@one.example"], "queued");
    const auto reports = db.exec(
        "SELECT m.account_id, r.address, r.state, convert_from(m.body, 'UTF8') FROM messages m "
        "JOIN recipients r ON r.message_id = m.id WHERE m.client_helo = 'relay.test'");
    ASSERT_EQ(reports.size(), 1u);  // reports are made by the relay: its name for HELO
    EXPECT_EQ(*reports[0][0], std::to_string(spammer));
    EXPECT_EQ(*reports[0][1], "owner@shop.example");
    EXPECT_EQ(*reports[0][2], "queued");
    const std::string& body = *reports[0][3];
    EXPECT_NE(body.find("Final-Recipient: rfc822;a@one.example"), std::string::npos) << body;
    EXPECT_NE(body.find("Final-Recipient: rfc822;b@one.example"), std::string::npos) << body;
    EXPECT_EQ(body.find("d@one.example"), std::string::npos) << body;
    EXPECT_NE(body.find("Status: 5.0.0"), std::string::npos) << body;
    EXPECT_NE(body.find("Delivery cancelled by the relay operator"), std::string::npos) << body;
    EXPECT_NE(body.find("Subject: t"), std::string::npos) << body;  // the original's header
    EXPECT_EQ(db.exec("SELECT count(*) FROM queue_job_reports").at(0).at(0), "0");
    EXPECT_EQ(db.exec("SELECT bounce::text FROM queue_jobs").at(0).at(0), "true");
}

// A process that died between a batch and its reports left notes: whoever takes the job
// over sends those reports first, once.
TEST_F(HoldsTest, ABouncingCancelTakenOverSendsTheReportsItsHolderOwed) {
    enqueue(spammer, {"a@one.example"}, std::nullopt, "owner@shop.example");
    db.exec("UPDATE recipients SET state = 'cancelled'");
    db.exec(
        "INSERT INTO queue_jobs (action, filter, bounce, created_by, phase, lease_owner, "
        "lease_expires_at) VALUES ('cancel', jsonb_build_object('account_id', $1::bigint), "
        "true, 'test', 3, 'dead', now() - interval '1 second')",
        std::to_string(spammer));
    db.exec(
        "INSERT INTO queue_job_reports (job_id, recipient_id) "
        "SELECT j.id, r.id FROM queue_jobs j, recipients r");
    EXPECT_EQ(run_jobs().state, "done");
    EXPECT_EQ(run_jobs().state, "");  // nothing left to run
    EXPECT_EQ(db.exec("SELECT count(*) FROM messages WHERE envelope_sender = ''").at(0).at(0), "1");
    EXPECT_EQ(db.exec("SELECT count(*) FROM queue_job_reports").at(0).at(0), "0");
}

// A cancel without bounces sends nothing, and a cancel visits only mail received before
// it was asked for.
TEST_F(HoldsTest, PlainCancelSendsNoReportAndSparesLaterMail) {
    enqueue(spammer, {"a@one.example"}, std::nullopt, "owner@shop.example");
    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by, created_at) VALUES ('cancel', "
        "jsonb_build_object('account_id', $1::bigint), 'test', now() - interval '1 hour')",
        std::to_string(spammer));
    EXPECT_EQ(run_jobs().recipients, 0);
    EXPECT_EQ(states()["a@one.example"], "queued");
    db.exec(
        "INSERT INTO queue_jobs (action, filter, created_by) VALUES ('cancel', "
        "jsonb_build_object('account_id', $1::bigint), 'test')",
        std::to_string(spammer));
    EXPECT_EQ(run_jobs().recipients, 1);
    EXPECT_EQ(db.exec("SELECT count(*) FROM messages WHERE envelope_sender = ''").at(0).at(0), "0");
}

// smarthost_holds_active counts each active hold once, under what it holds.
TEST_F(HoldsTest, HoldsActiveGaugeCountsEachScopeApart) {
    const auto wordpress = credential(spammer, "wordpress");
    db.exec(
        "INSERT INTO holds (account_id, credential_id, sub_user, reason, evidence, created_by) "
        "VALUES ($1, NULL, NULL, 'operator', '{}', 't'), ($1, $2, NULL, 'operator', '{}', 't'), "
        "($1, NULL, 'blog1', 'operator', '{}', 't'), ($1, NULL, 'blog2', 'operator', '{}', 't')",
        std::to_string(spammer), std::to_string(wordpress));
    metrics::Metrics metrics;
    auto refresh = [&]() -> asio::awaitable<int> {
        co_await metrics::refresh_queue_gauges(pool, metrics, 0ms);
        co_return 0;
    };
    test::run_awaitable(io, refresh());
    EXPECT_EQ(metrics.holds_active.Add({{"scope", "account"}}).Value(), 1);
    EXPECT_EQ(metrics.holds_active.Add({{"scope", "credential"}}).Value(), 1);
    EXPECT_EQ(metrics.holds_active.Add({{"scope", "sub_user"}}).Value(), 2);
}

}  // namespace
}  // namespace smarthost::queue
