// /api/v1/accounts/{id}/stats, /api/v1/queue and /api/v1/reputation.

#include <boost/json.hpp>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using StatsApiTest = AdminApiTest;
using QueueApiTest = AdminApiTest;
using ReputationApiTest = AdminApiTest;

// An outcome event `age_seconds` ago for each recipient of `message` in `state`.
void record_outcomes(smarthost::test::TestDatabase& db, const std::string& message,
                     const std::string& kind, int age_seconds) {
    db.exec(
        "INSERT INTO events (message_id, recipient_id, kind, created_at) "
        "SELECT message_id, id, $2, now() - $3::int * interval '1 second' FROM recipients "
        "WHERE message_id = $1::uuid",
        message, kind, age_seconds);
}

TEST_F(StatsApiTest, CountsWithinTheWindow) {
    const auto acme = create_account_via_api("acme");
    const auto other = create_account_via_api("other");
    // Two hours ago: outside 1h, inside 24h.
    const auto old =
        store_message(acme, 1, "s@acme.example", {{"a@x.example", "delivered"}}, "", 7200);
    record_outcomes(db, old, "delivered", 7100);
    const auto recent = store_message(
        acme, 2, "s@acme.example",
        {{"b@x.example", "bounced"}, {"c@x.example", "deferred"}, {"d@x.example", "expired"}}, "",
        60);
    db.exec(
        "INSERT INTO events (message_id, recipient_id, kind, category) SELECT message_id, id, "
        "CASE address WHEN 'b@x.example' THEN 'bounced' WHEN 'c@x.example' THEN 'deferred' "
        "ELSE 'expired' END, CASE address WHEN 'b@x.example' THEN 'bad_mailbox' ELSE "
        "'rate_limited' END FROM recipients WHERE message_id = $1::uuid",
        recent);
    // An attempt event carries the category too, but is not counted again.
    db.exec(
        "INSERT INTO events (message_id, recipient_id, kind, category) SELECT message_id, id, "
        "'attempt', 'bad_mailbox' FROM recipients WHERE message_id = $1::uuid",
        recent);
    const auto others = store_message(other, 3, "s@other.example", {{"e@x.example", "delivered"}});
    record_outcomes(db, others, "delivered", 0);
    for (const auto* reason : {"sender_domain", "rate_limit:messages_per_minute", "rate_limit",
                               "sender_domain", "dnsbl"})
        db.exec("INSERT INTO rejections (account_id, reason) VALUES ($1, $2)", acme, reason);
    db.exec(
        "INSERT INTO rejections (account_id, reason, created_at) "
        "VALUES ($1, 'dnsbl', now() - interval '2 hours')",
        acme);
    db.exec("INSERT INTO rejections (account_id, reason) VALUES (NULL, 'auth'), ($1, 'dnsbl')",
            other);

    const auto hour = get("/api/v1/accounts/" + std::to_string(acme) + "/stats?window=1h");
    ASSERT_EQ(hour.status, 200u) << hour.body;
    const auto body = hour.json();
    EXPECT_EQ(body.at("account_id").as_int64(), acme);
    EXPECT_EQ(body.at("accepted").at("messages").as_int64(), 1);
    EXPECT_EQ(body.at("accepted").at("recipients").as_int64(), 3);
    EXPECT_EQ(body.at("delivered").as_int64(), 0);
    EXPECT_EQ(body.at("bounced").as_int64(), 1);
    EXPECT_EQ(body.at("deferred").as_int64(), 1);
    EXPECT_EQ(body.at("expired").as_int64(), 1);
    EXPECT_EQ(body.at("rejected").at("total").as_int64(), 5);
    const auto& by_reason = body.at("rejected").at("by_reason").as_object();
    EXPECT_EQ(by_reason.at("sender_domain").as_int64(), 2);
    EXPECT_EQ(by_reason.at("dnsbl").as_int64(), 1);
    EXPECT_EQ(by_reason.at("rate_limit").as_int64(), 1);
    EXPECT_EQ(body.at("rate_limit_hits").as_int64(), 2);
    const auto& failures = body.at("failures_by_category").as_object();
    EXPECT_EQ(failures.size(), 2u);
    EXPECT_EQ(failures.at("bad_mailbox").as_int64(), 1);
    EXPECT_EQ(failures.at("rate_limited").as_int64(), 2);

    // The default window is 24 hours.
    const auto day = get("/api/v1/accounts/" + std::to_string(acme) + "/stats").json();
    EXPECT_EQ(day.at("accepted").at("messages").as_int64(), 2);
    EXPECT_EQ(day.at("delivered").as_int64(), 1);
    EXPECT_EQ(day.at("rejected").at("by_reason").at("dnsbl").as_int64(), 2);
}

TEST_F(StatsApiTest, ExplicitRangeAndEmptyAccount) {
    const auto acme = create_account_via_api("acme");
    store_message(acme, 1, "s@acme.example", {{"a@x.example", "queued"}});
    const auto path = "/api/v1/accounts/" + std::to_string(acme) + "/stats";
    const auto past = get(path + "?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00%2B01:00");
    ASSERT_EQ(past.status, 200u) << past.body;
    EXPECT_EQ(past.json().at("accepted").at("messages").as_int64(), 0);
    EXPECT_EQ(past.json().at("rejected").at("by_reason").as_object().size(), 0u);
    const auto since = get(path + "?from=2020-01-01T00:00:00Z");
    EXPECT_EQ(since.json().at("accepted").at("messages").as_int64(), 1);
}

TEST_F(StatsApiTest, BadWindowIs422AndMissingAccount404) {
    const auto path =
        "/api/v1/accounts/" + std::to_string(create_account_via_api("acme")) + "/stats";
    EXPECT_EQ(get(path + "?window=2h").error_fields(), std::vector<std::string>{"window"});
    EXPECT_EQ(get(path + "?from=yesterday").error_fields(), std::vector<std::string>{"from"});
    EXPECT_EQ(get(path + "?window=1h&from=2026-01-01T00:00:00Z").error_fields(),
              std::vector<std::string>{"window"});
    EXPECT_EQ(get("/api/v1/accounts/4242/stats").status, 404u);
}

TEST_F(QueueApiTest, CountsOldestAgeAndWorstDomains) {
    const auto empty = get("/api/v1/queue");
    ASSERT_EQ(empty.status, 200u) << empty.body;
    EXPECT_EQ(empty.json().at("recipients").at("queued").as_int64(), 0);
    EXPECT_TRUE(empty.json().at("oldest_queued_at").is_null());
    EXPECT_TRUE(empty.json().at("oldest_queued_age_seconds").is_null());
    EXPECT_EQ(empty.json().at("deferred_domains").as_array().size(), 0u);

    const auto acme = create_account_via_api("acme");
    // Held mail is counted, not aged; delivered mail is history.
    store_message(acme, 1, "s@acme.example", {{"a@held.example", "held"}}, "", 9000);
    store_message(acme, 2, "s@acme.example", {{"a@done.example", "delivered"}}, "", 8000);
    store_message(acme, 3, "s@acme.example",
                  {{"a@slow.example", "deferred", 3, "451 4.7.1 first"},
                   {"b@slow.example", "deferred", 3, "421 4.4.2 latest"},
                   {"a@busy.example", "deferred", 1, "452 4.2.2 full"}},
                  "", 3600);
    db.exec(
        "UPDATE recipients SET updated_at = now() - interval '1 minute' "
        "WHERE address = 'a@slow.example'");
    store_message(acme, 4, "s@acme.example",
                  {{"q@new.example", "queued"}, {"f@new.example", "in_flight"}}, "", 5);

    const auto reply = get("/api/v1/queue");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    const auto body = reply.json();
    EXPECT_EQ(body.at("recipients").at("queued").as_int64(), 1);
    EXPECT_EQ(body.at("recipients").at("in_flight").as_int64(), 1);
    EXPECT_EQ(body.at("recipients").at("deferred").as_int64(), 3);
    EXPECT_EQ(body.at("recipients").at("held").as_int64(), 1);
    const auto age = body.at("oldest_queued_age_seconds").as_int64();
    EXPECT_GE(age, 3600);
    EXPECT_LT(age, 3700);
    const auto& domains = body.at("deferred_domains").as_array();
    ASSERT_EQ(domains.size(), 2u);
    EXPECT_EQ(domains[0].at("domain").as_string(), "slow.example");
    EXPECT_EQ(domains[0].at("deferred").as_int64(), 2);
    EXPECT_EQ(domains[0].at("last_error").as_string(), "421 4.4.2 latest");
    EXPECT_EQ(domains[1].at("domain").as_string(), "busy.example");

    const auto top = get("/api/v1/queue?top=1").json();
    EXPECT_EQ(top.at("deferred_domains").as_array().size(), 1u);
    for (const auto* bad : {"0", "101", "x", ""})
        EXPECT_EQ(get(std::string("/api/v1/queue?top=") + bad).error_fields(),
                  std::vector<std::string>{"top"})
            << bad;
}

TEST_F(ReputationApiTest, ListsSourceAddressesWithTheirListings) {
    const auto empty = get("/api/v1/reputation");
    ASSERT_EQ(empty.status, 200u) << empty.body;
    EXPECT_EQ(empty.json().at("items").as_array().size(), 0u);

    db.exec(
        "INSERT INTO outbound_listings (source_address, zone, listed, answer) VALUES "
        "('192.0.2.1', 'zen.spamhaus.org', true, '127.0.0.2'), "
        "('192.0.2.1', 'bl.spamcop.net', false, NULL), "
        "('2001:db8::25', 'zen.spamhaus.org', false, NULL)");
    const auto reply = get("/api/v1/reputation");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    const auto body = reply.json();
    const auto& items = body.at("items").as_array();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].at("source_address").as_string(), "192.0.2.1");
    EXPECT_TRUE(items[0].at("listed").as_bool());
    const auto& listings = items[0].at("listings").as_array();
    ASSERT_EQ(listings.size(), 2u);
    EXPECT_EQ(listings[0].at("zone").as_string(), "bl.spamcop.net");
    EXPECT_FALSE(listings[0].at("listed").as_bool());
    EXPECT_EQ(listings[1].at("answer").as_string(), "127.0.0.2");
    EXPECT_EQ(items[1].at("source_address").as_string(), "2001:db8::25");
    EXPECT_FALSE(items[1].at("listed").as_bool());

    const auto listed = get("/api/v1/reputation?listed=true").json();
    ASSERT_EQ(listed.at("items").as_array().size(), 1u);
    EXPECT_EQ(get("/api/v1/reputation?listed=false").json().at("items").as_array().size(), 1u);
    EXPECT_EQ(get("/api/v1/reputation?listed=yes").error_fields(),
              std::vector<std::string>{"listed"});
}

TEST_F(ReputationApiTest, ReadOnlyAndAuthenticated) {
    EXPECT_EQ(post("/api/v1/reputation", "{}").status, 405u);
    EXPECT_EQ(call({"GET", "/api/v1/reputation", {}, "application/json", "Bearer nope"}).status,
              401u);
    EXPECT_EQ(call({"GET", "/api/v1/queue", {}, "application/json", ""}).status, 401u);
}

}  // namespace
}  // namespace smarthost::admin::test
