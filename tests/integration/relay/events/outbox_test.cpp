// The webhook outbox against a real PostgreSQL: events written by the statement that
// makes their change (a delivery outcome through Claims::record), only for endpoints that
// want them, nothing when the change rolls back; deliveries claimed disjointly by two
// senders, one at a time and in order per endpoint and account.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <set>

#include "core/pg/pool.hpp"
#include "relay/events/outbox.hpp"
#include "relay/events/webhook_deliveries.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/group_commit.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::events {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::TestDatabase;

class OutboxTest : public ::testing::Test {
  protected:
    TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 4, 5, 10}};
    std::int64_t account_id = db.create_account("customer");
    queue::RetrySchedule schedule{queue::RetryPolicy{}, [] { return 0.5; }};
    queue::Claims claims{pool};
    WebhookDeliveries deliveries{pool};

    std::int64_t add_endpoint(std::optional<std::int64_t> account, const std::string& kinds,
                              bool enabled = true) {
        const auto rows = db.exec(
            "INSERT INTO webhook_endpoints (account_id, url, event_types, secret, enabled) "
            "VALUES ($1, 'http://127.0.0.1:9/', $2::text[], 'whsec_AAAA', $3) RETURNING id",
            account ? std::optional<std::string>(std::to_string(*account)) : std::nullopt, kinds,
            enabled);
        return std::stoll(*rows.at(0).at(0));
    }

    std::string scalar(std::string_view sql) { return db.exec(sql).at(0).at(0).value_or("NULL"); }

    // Queues a message to `address` for the account, claims it and records `verdict`.
    void deliver(const std::string& address, queue::Verdict verdict, const std::string& reply) {
        queue::NewMessage message;
        message.id = queue::new_message_id();
        message.account_id = account_id;
        message.client_ip = "192.0.2.10";
        message.envelope.sender = "sender@example.com";
        message.envelope.recipients.push_back(
            {address, address.substr(address.find('@') + 1), "", ""});
        message.body = "Subject: t\r\n\r\nhi\r\n";
        queue::GroupCommitter committer(pool, queue::GroupCommitter::Settings{});
        ASSERT_TRUE(test::run_awaitable(io, committer.enqueue(std::move(message))));
        auto claim = test::run_awaitable(io, claims.claim("worker", 60s, 10, 10, 1 << 20));
        ASSERT_TRUE(claim);
        ASSERT_EQ(claim->recipients, 1u);
        const auto& claimed = claim->domains.at(0).messages.at(0);
        queue::AttemptResult result;
        result.message = &claimed;
        result.recipient = &claimed.recipients.at(0);
        result.verdict = verdict;
        result.reply =
            smtp::Reply{std::stoi(reply.substr(0, 3)), reply.substr(4, 5), {reply.substr(10)}};
        result.remote = true;
        result.stage = queue::Stage::rcpt;
        result.peer = queue::Peer{"mx.example.org", "198.51.100.7", "TLSv1.3"};
        std::vector<queue::AttemptResult> results{result};
        auto settlements = queue::settle(results, schedule, std::chrono::system_clock::now());
        auto recorded = test::run_awaitable(io, claims.record("worker", results, settlements));
        ASSERT_TRUE(recorded);
        ASSERT_EQ(recorded->updated, 1u);
    }

    // Writes an event of `kind` for `account` through the helper, in its own statement.
    void write_event(std::int64_t account, const std::string& kind, int n = 0) {
        db.exec(outbox_statement("SELECT $1::text, $2::bigint, jsonb_build_object('n', $3::int)"),
                kind, account, n);
    }

    std::vector<ClaimedDelivery> claim(const std::string& owner, std::size_t max = 100,
                                       std::chrono::milliseconds lease = 60s) {
        auto claimed = test::run_awaitable(io, deliveries.claim(owner, lease, max));
        if (!claimed) throw std::runtime_error(claimed.error().message);
        return std::move(*claimed);
    }

    bool record(const std::string& owner, const ClaimedDelivery& delivery, bool delivered,
                std::optional<std::chrono::seconds> retry_after = std::nullopt) {
        DeliveryOutcome outcome;
        outcome.delivered = delivered;
        outcome.status = delivered ? 204 : 503;
        outcome.error = delivered ? "" : "answered 503";
        outcome.retry_after = retry_after;
        auto recorded = test::run_awaitable(io, deliveries.record(owner, delivery.id, outcome));
        if (!recorded) throw std::runtime_error(recorded.error().message);
        return *recorded;
    }
};

TEST_F(OutboxTest, WithoutEndpointsADeliveryOutcomeWritesNoEvent) {
    deliver("a@example.org", queue::Verdict::delivered, "250 2.0.0 ok");
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_events"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_deliveries"), "0");
}

TEST_F(OutboxTest, DeliveryOutcomeWritesItsEventForEachEndpointThatWantsIt) {
    const auto own = add_endpoint(account_id, "{message.delivered,message.bounced}");
    const auto global = add_endpoint(std::nullopt, "{message.delivered}");
    add_endpoint(account_id, "{message.deferred}");                   // another kind
    add_endpoint(account_id, "{message.delivered}", false);           // disabled
    add_endpoint(db.create_account("other"), "{message.delivered}");  // another account

    deliver("a@example.org", queue::Verdict::delivered, "250 2.0.0 queued as X");
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_events"), "1");
    EXPECT_EQ(scalar("SELECT string_agg(endpoint_id::text, ',' ORDER BY endpoint_id) "
                     "FROM webhook_deliveries"),
              std::to_string(own) + "," + std::to_string(global));
    const auto payload = db.exec(
        "SELECT payload->>'type', payload->>'id' = id::text, payload->'account'->>'name', "
        "(payload->'account'->>'id')::bigint, payload->'data'->>'recipient', "
        "payload->'data'->>'reply', payload->'data'->>'remote_host', "
        "payload->'data'->>'sender', length(payload->'data'->>'message_id'), "
        "payload->>'timestamp' ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z$' "
        "FROM webhook_events");
    const auto& row = payload.at(0);
    EXPECT_EQ(row[0], "message.delivered");
    EXPECT_EQ(row[1], "t");
    EXPECT_EQ(row[2], "customer");
    EXPECT_EQ(row[3], std::to_string(account_id));
    EXPECT_EQ(row[4], "a@example.org");
    EXPECT_EQ(row[5], "250 2.0.0 queued as X");
    EXPECT_EQ(row[6], "mx.example.org");
    EXPECT_EQ(row[7], "sender@example.com");
    EXPECT_EQ(row[8], "32");
    EXPECT_EQ(row[9], "t");

    deliver("b@example.org", queue::Verdict::permanent, "550 5.1.1 no such user");
    EXPECT_EQ(scalar("SELECT string_agg(kind, ',' ORDER BY seq) FROM webhook_events"),
              "message.delivered,message.bounced");
}

TEST_F(OutboxTest, AnEventRollsBackWithTheChangeThatCausedIt) {
    add_endpoint(account_id, "{account.suspended}");
    std::vector<pg::Statement> statements;
    statements.push_back(
        pg::Statement{outbox_statement("SELECT 'account.suspended', $1::bigint, '{}'::jsonb"),
                      pg::params_of(account_id)});
    statements.push_back(pg::Statement{"SELECT 1 / 0", {}});
    auto written = test::run_awaitable(io, pool.transaction(std::move(statements)));
    EXPECT_FALSE(written);
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_events"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_deliveries"), "0");
}

TEST_F(OutboxTest, OversizedDataIsReplacedNotRefused) {
    add_endpoint(account_id, "{account.suspended}");
    db.exec(outbox_statement("SELECT 'account.suspended', $1::bigint, "
                             "jsonb_build_object('reason', repeat('x', 100000))"),
            account_id);
    EXPECT_EQ(scalar("SELECT payload->'data'::text FROM webhook_events"), "{\"truncated\": true}");
}

TEST_F(OutboxTest, TwoSendersClaimDisjointDeliveries) {
    add_endpoint(std::nullopt, "{account.suspended}");
    for (int i = 0; i < 20; ++i)
        write_event(db.create_account("a" + std::to_string(i)), "account.suspended");
    const auto first = claim("sender-1", 8);
    const auto second = claim("sender-2", 100);
    EXPECT_EQ(first.size(), 8u);
    EXPECT_EQ(second.size(), 12u);
    std::set<std::int64_t> ids;
    for (const auto& d : first)
        ids.insert(d.id);
    for (const auto& d : second)
        ids.insert(d.id);
    EXPECT_EQ(ids.size(), 20u);
    EXPECT_TRUE(claim("sender-3").empty());
    EXPECT_EQ(first.at(0).attempts, 1);
    EXPECT_EQ(first.at(0).url, "http://127.0.0.1:9/");
    EXPECT_EQ(first.at(0).kind, "account.suspended");
}

TEST_F(OutboxTest, AnAccountsEventsGoOneAtATimeInOrder) {
    add_endpoint(account_id, "{account.suspended,account.resumed}");
    write_event(account_id, "account.suspended", 1);
    write_event(account_id, "account.resumed", 2);
    write_event(account_id, "account.suspended", 3);

    auto claimed = claim("s");
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_NE(claimed[0].body.find("\"n\": 1"), std::string::npos) << claimed[0].body;
    EXPECT_TRUE(claim("t").empty());  // the head is leased: its successors wait

    // A failure to be retried keeps the head: the next event still waits, even once due.
    ASSERT_TRUE(record("s", claimed[0], false, 1s));
    db.exec(
        "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second' "
        "WHERE event_seq > (SELECT min(event_seq) FROM webhook_deliveries)");
    EXPECT_TRUE(claim("t").empty());
    db.exec("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1", claimed[0].id);
    auto again = claim("t");
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].id, claimed[0].id);
    EXPECT_EQ(again[0].attempts, 2);
    ASSERT_TRUE(record("t", again[0], true));

    auto second = claim("t");
    ASSERT_EQ(second.size(), 1u);
    EXPECT_NE(second[0].body.find("\"n\": 2"), std::string::npos);
    // Given up (failed) lets the next one go.
    ASSERT_TRUE(record("t", second[0], false, std::nullopt));
    auto third = claim("t");
    ASSERT_EQ(third.size(), 1u);
    EXPECT_NE(third[0].body.find("\"n\": 3"), std::string::npos);
    EXPECT_EQ(scalar("SELECT string_agg(state, ',' ORDER BY event_seq) FROM webhook_deliveries"),
              "delivered,failed,pending");
    EXPECT_EQ(scalar("SELECT consecutive_failures || ' ' || (last_failure_at IS NOT NULL) "
                     "|| ' ' || last_failure_reason FROM webhook_endpoints"),
              "1 true answered 503");
}

TEST_F(OutboxTest, AnExpiredLeaseIsClaimedAgainAndTheOldOwnerWritesNothing) {
    add_endpoint(account_id, "{account.suspended}");
    write_event(account_id, "account.suspended");
    auto first = claim("crashed", 10, 0ms);
    ASSERT_EQ(first.size(), 1u);
    auto second = claim("alive");
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].attempts, 2);
    EXPECT_FALSE(record("crashed", first[0], true));
    EXPECT_TRUE(record("alive", second[0], true));
    EXPECT_EQ(scalar("SELECT state || ' ' || last_status FROM webhook_deliveries"),
              "delivered 204");
}

TEST_F(OutboxTest, DisabledEndpointsDeliveriesWaitUntilItIsEnabled) {
    const auto endpoint = add_endpoint(account_id, "{account.suspended}");
    write_event(account_id, "account.suspended");
    db.exec("UPDATE webhook_endpoints SET enabled = false WHERE id = $1", endpoint);
    EXPECT_TRUE(claim("s").empty());
    db.exec("UPDATE webhook_endpoints SET enabled = true WHERE id = $1", endpoint);
    EXPECT_EQ(claim("s").size(), 1u);
}

TEST_F(OutboxTest, PurgeRemovesOldFinishedDeliveriesAndTheirEvents) {
    add_endpoint(account_id, "{account.suspended}");
    write_event(account_id, "account.suspended", 1);
    write_event(account_id, "account.suspended", 2);
    db.exec(
        "UPDATE webhook_deliveries SET state = 'delivered', "
        "updated_at = now() - interval '2 days' WHERE event_seq = "
        "(SELECT min(event_seq) FROM webhook_deliveries)");
    db.exec("UPDATE webhook_events SET created_at = now() - interval '2 days'");
    auto purged = test::run_awaitable(io, deliveries.purge(86400s, 86400s));
    ASSERT_TRUE(purged);
    EXPECT_EQ(purged->deliveries, 1u);
    EXPECT_EQ(purged->events, 1u);
    EXPECT_EQ(scalar("SELECT count(*) || ' ' || min(state) FROM webhook_deliveries"), "1 pending");
}

}  // namespace
}  // namespace smarthost::events
