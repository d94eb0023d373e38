// /api/v1/messages: search, the tracking view, retry, hold, release and cancel.

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>

#include "core/pg/notification_listener.hpp"
#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

namespace json = boost::json;

class MessagesApiTest : public AdminApiTest {
  protected:
    std::vector<std::string> ids_of(const HttpReply& reply) {
        std::vector<std::string> ids;
        const auto body = reply.json();
        for (const auto& item : body.at("items").as_array())
            ids.emplace_back(item.at("id").as_string());
        return ids;
    }

    std::string state_of(const std::string& address) {
        return *db.exec("SELECT state FROM recipients WHERE address = $1", address).at(0).at(0);
    }

    std::vector<std::string> events_of(const std::string& message) {
        std::vector<std::string> kinds;
        for (const auto& row :
             db.exec("SELECT kind FROM events WHERE message_id = $1::uuid ORDER BY id", message))
            kinds.push_back(*row.at(0));
        return kinds;
    }
};

// A LISTEN connection on the delivery role's wake-up channel.
class QueueChannel {
  public:
    explicit QueueChannel(const std::string& url)
        : listener_(io_.get_executor(), {.url = url, .channel = "smarthost_queue"},
                    [this] { ++notified_; }) {
        listener_.start();
        EXPECT_TRUE(run_until([&] { return listener_.listening(); }, std::chrono::seconds(10)));
        notified_ = 0;  // the call after connecting, not a notification
    }

    bool notified_within(std::chrono::milliseconds deadline) {
        if (!run_until([&] { return notified_ > 0; }, deadline)) return false;
        --notified_;
        return true;
    }

  private:
    bool run_until(const std::function<bool()>& condition,
                   std::chrono::steady_clock::duration deadline) {
        const auto until = std::chrono::steady_clock::now() + deadline;
        while (!condition() && std::chrono::steady_clock::now() < until) {
            io_.restart();
            io_.run_for(std::chrono::milliseconds(10));
        }
        return condition();
    }

    boost::asio::io_context io_;
    std::size_t notified_ = 0;
    pg::NotificationListener listener_;
};

TEST_F(MessagesApiTest, SearchFiltersAndPagesNewestFirst) {
    const auto acme = create_account_via_api("acme");
    const auto other = create_account_via_api("other");
    const auto m1 = store_message(acme, 1, "shop@acme.example", {{"bob@dest.example", "delivered"}},
                                  "<one@acme.example>", 7200);
    const auto m2 = store_message(
        acme, 2, "news@acme.example",
        {{"carol@dest.example", "deferred", 2, "451 4.7.1 later"}, {"dan@dest.example", "queued"}},
        "<two@acme.example>", 60);
    const auto m3 =
        store_message(other, 3, "shop@other.example", {{"Bob@Dest.example", "bounced"}}, "", 30);
    const auto m4 = store_message(acme, 4, "", {{"shop@acme.example", "queued"}}, "", 10);

    EXPECT_EQ(ids_of(get("/api/v1/messages")), (std::vector<std::string>{m4, m3, m2, m1}));
    const auto acme_path = "/api/v1/messages?account=" + std::to_string(acme);
    EXPECT_EQ(ids_of(get(acme_path)), (std::vector<std::string>{m4, m2, m1}));
    EXPECT_EQ(ids_of(get(acme_path + "&state=deferred")), std::vector<std::string>{m2});
    EXPECT_EQ(ids_of(get("/api/v1/messages?sender=SHOP@acme.example")),
              std::vector<std::string>{m1});
    EXPECT_EQ(ids_of(get("/api/v1/messages?sender=")), std::vector<std::string>{m4});  // <>
    EXPECT_EQ(ids_of(get("/api/v1/messages?recipient=bob@dest.example")),
              (std::vector<std::string>{m3, m1}));
    // With or without the angle brackets.
    EXPECT_EQ(ids_of(get("/api/v1/messages?message_id=two@acme.example")),
              std::vector<std::string>{m2});
    EXPECT_EQ(ids_of(get("/api/v1/messages?message_id=%3Cone@acme.example%3E")),
              std::vector<std::string>{m1});
    const auto from = *db.exec(
                             "SELECT to_char((now() - interval '90 seconds') AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
                           .at(0)
                           .at(0);
    EXPECT_EQ(ids_of(get("/api/v1/messages?from=" + from)), (std::vector<std::string>{m4, m3, m2}));
    EXPECT_EQ(ids_of(get("/api/v1/messages?to=" + from)), std::vector<std::string>{m1});

    const auto page = get(acme_path + "&limit=2");
    ASSERT_EQ(page.status, 200u) << page.body;
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{m4, m2}));
    const std::string cursor(page.json().at("next_cursor").as_string());
    EXPECT_EQ(cursor, m2);
    const auto rest = get(acme_path + "&limit=2&cursor=" + cursor);
    EXPECT_EQ(ids_of(rest), std::vector<std::string>{m1});
    EXPECT_TRUE(rest.json().at("next_cursor").is_null());

    const auto summary = get("/api/v1/messages?message_id=two@acme.example").json();
    const auto& item = summary.at("items").as_array().at(0);
    EXPECT_EQ(item.at("sender").as_string(), "news@acme.example");
    EXPECT_EQ(item.at("recipients").at("deferred").as_int64(), 1);
    EXPECT_EQ(item.at("recipients").at("queued").as_int64(), 1);
}

TEST_F(MessagesApiTest, BadSearchParametersAreNamed) {
    const auto reply =
        get("/api/v1/messages?account=x&state=lost&from=yesterday&to=2026-11-25&cursor=12&limit=0");
    EXPECT_EQ(reply.status, 422u);
    auto fields = reply.error_fields();
    std::sort(fields.begin(), fields.end());
    EXPECT_EQ(fields,
              (std::vector<std::string>{"account", "cursor", "from", "limit", "state", "to"}));
    EXPECT_EQ(get("/api/v1/messages?recipient=a%00b").error_fields(),
              std::vector<std::string>{"recipient"});
}

TEST_F(MessagesApiTest, TrackingViewHasRecipientsAndEvents) {
    const auto acme = create_account_via_api("acme");
    const auto id = store_message(acme, 1, "shop@acme.example",
                                  {{"bob@dest.example", "deferred", 1, "451 4.7.1 greylisted"}},
                                  "<one@acme.example>");
    db.exec(
        "INSERT INTO events (message_id, recipient_id, kind, remote_host, remote_ip, reply) "
        "SELECT message_id, id, 'deferred', 'mx.dest.example', '192.0.2.25', last_reply "
        "FROM recipients");
    const auto reply = get("/api/v1/messages/" + id);
    ASSERT_EQ(reply.status, 200u) << reply.body;
    const auto body = reply.json();
    EXPECT_EQ(body.at("id").as_string(), id);
    EXPECT_EQ(body.at("account_id").as_int64(), acme);
    EXPECT_EQ(body.at("header_message_id").as_string(), "<one@acme.example>");
    EXPECT_TRUE(body.at("body_stored").as_bool());
    const auto& recipients = body.at("recipients").as_array();
    ASSERT_EQ(recipients.size(), 1u);
    EXPECT_EQ(recipients[0].at("address").as_string(), "bob@dest.example");
    EXPECT_EQ(recipients[0].at("state").as_string(), "deferred");
    EXPECT_EQ(recipients[0].at("attempts").as_int64(), 1);
    EXPECT_EQ(recipients[0].at("last_reply").as_string(), "451 4.7.1 greylisted");
    const auto& events = body.at("events").as_array();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].at("kind").as_string(), "accepted");
    EXPECT_EQ(events[1].at("kind").as_string(), "deferred");
    EXPECT_EQ(events[1].at("remote_host").as_string(), "mx.dest.example");
    EXPECT_EQ(events[1].at("remote_ip").as_string(), "192.0.2.25");
    EXPECT_EQ(events[1].at("recipient_id"), recipients[0].at("id"));

    // The UUID form names the same message.
    const auto uuid = id.substr(0, 8) + "-" + id.substr(8, 4) + "-" + id.substr(12, 4) + "-" +
                      id.substr(16, 4) + "-" + id.substr(20);
    EXPECT_EQ(get("/api/v1/messages/" + uuid).status, 200u);
    EXPECT_EQ(get("/api/v1/messages/0193000000007000800000ffffffffff").status, 404u);
    EXPECT_EQ(get("/api/v1/messages/not-an-id").status, 404u);
}

TEST_F(MessagesApiTest, RetryMakesWaitingRecipientsDueAndWakesDelivery) {
    const auto acme = create_account_via_api("acme");
    const auto id = store_message(acme, 1, "shop@acme.example",
                                  {{"a@dest.example", "deferred", 2},
                                   {"b@dest.example", "queued"},
                                   {"c@dest.example", "delivered", 1},
                                   {"d@dest.example", "in_flight", 1}});
    QueueChannel channel(db.url());
    const auto reply = post("/api/v1/messages/" + id + "/retry");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    const auto body = reply.json();
    EXPECT_EQ(body.at("action").as_string(), "retry");
    EXPECT_EQ(body.at("changed").as_array().size(), 2u);
    EXPECT_EQ(body.at("in_flight").as_int64(), 1);
    EXPECT_TRUE(channel.notified_within(std::chrono::seconds(5)));
    const auto due =
        db.exec("SELECT address FROM recipients WHERE next_attempt_at <= now() ORDER BY address");
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(*due[0][0], "a@dest.example");
    EXPECT_EQ(*due[1][0], "b@dest.example");
    EXPECT_EQ(state_of("a@dest.example"), "deferred");
    EXPECT_EQ(audit_rows().back(), "ops POST /api/v1/messages/" + id + "/retry 200");
    const auto detail = db.exec(
        "SELECT detail->>'message_id', jsonb_array_length(detail->'recipients') FROM audit_log "
        "ORDER BY id DESC LIMIT 1");
    EXPECT_EQ(*detail.at(0).at(0), id);
    EXPECT_EQ(*detail.at(0).at(1), "2");
}

TEST_F(MessagesApiTest, HoldAndReleaseRecordEvents) {
    const auto acme = create_account_via_api("acme");
    const auto id = store_message(acme, 1, "shop@acme.example",
                                  {{"a@dest.example", "deferred", 2},
                                   {"b@dest.example", "queued"},
                                   {"c@dest.example", "in_flight", 1}});
    const auto held = post("/api/v1/messages/" + id + "/hold");
    ASSERT_EQ(held.status, 200u) << held.body;
    EXPECT_EQ(state_of("a@dest.example"), "held");
    EXPECT_EQ(state_of("b@dest.example"), "held");
    EXPECT_EQ(state_of("c@dest.example"), "in_flight");  // its attempt is under way
    EXPECT_EQ(held.json().at("in_flight").as_int64(), 1);
    EXPECT_EQ(events_of(id), (std::vector<std::string>{"accepted", "held", "held"}));

    // Nothing left to hold: a 409 that says why, and no audit row.
    const auto again = post("/api/v1/messages/" + id + "/hold");
    EXPECT_EQ(again.status, 409u);
    EXPECT_NE(again.json().at("detail").as_string().find("1 in flight"), std::string::npos);

    QueueChannel channel(db.url());
    const auto released = post("/api/v1/messages/" + id + "/release");
    ASSERT_EQ(released.status, 200u) << released.body;
    EXPECT_TRUE(channel.notified_within(std::chrono::seconds(5)));
    // Back to where they were: tried before → deferred, never tried → queued; due now.
    EXPECT_EQ(state_of("a@dest.example"), "deferred");
    EXPECT_EQ(state_of("b@dest.example"), "queued");
    EXPECT_EQ(db.exec("SELECT count(*) FROM recipients WHERE state IN ('queued', 'deferred') "
                      "AND next_attempt_at <= now()")
                  .at(0)
                  .at(0),
              "2");
    EXPECT_EQ(events_of(id),
              (std::vector<std::string>{"accepted", "held", "held", "released", "released"}));
    EXPECT_EQ(post("/api/v1/messages/" + id + "/release").status, 409u);
    const auto audit = audit_rows();
    ASSERT_EQ(audit.size(), 3u);  // account, hold, release
    EXPECT_EQ(audit[1], "ops POST /api/v1/messages/" + id + "/hold 200");
    EXPECT_EQ(audit[2], "ops POST /api/v1/messages/" + id + "/release 200");
}

TEST_F(MessagesApiTest, CancelTouchesOnlyNonFinalRecipientsNotInFlight) {
    const auto acme = create_account_via_api("acme");
    const auto id = store_message(acme, 1, "shop@acme.example",
                                  {{"a@dest.example", "deferred", 2},
                                   {"b@dest.example", "held"},
                                   {"c@dest.example", "delivered", 1},
                                   {"d@dest.example", "in_flight", 1}});
    const auto reply = post("/api/v1/messages/" + id + "/cancel");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    const auto body = reply.json();
    const auto& changed = body.at("changed").as_array();
    ASSERT_EQ(changed.size(), 2u);
    EXPECT_EQ(changed[0].at("address").as_string(), "a@dest.example");
    EXPECT_EQ(changed[0].at("state").as_string(), "cancelled");
    EXPECT_EQ(state_of("a@dest.example"), "cancelled");
    EXPECT_EQ(state_of("b@dest.example"), "cancelled");
    EXPECT_EQ(state_of("c@dest.example"), "delivered");
    EXPECT_EQ(state_of("d@dest.example"), "in_flight");
    EXPECT_EQ(events_of(id), (std::vector<std::string>{"accepted", "cancelled", "cancelled"}));
    EXPECT_EQ(post("/api/v1/messages/" + id + "/cancel").status, 409u);
    EXPECT_EQ(post("/api/v1/messages/" + id + "/retry").status, 409u);
    EXPECT_EQ(audit_rows().size(), 2u);
}

TEST_F(MessagesApiTest, ActionsOnMissingMessagesAre404AndTakeNoBody) {
    for (const auto* action : {"retry", "hold", "release", "cancel"}) {
        EXPECT_EQ(
            post(std::string("/api/v1/messages/0193000000007000800000ffffffffff/") + action).status,
            404u)
            << action;
        EXPECT_EQ(post(std::string("/api/v1/messages/zz/") + action).status, 404u) << action;
    }
    const auto acme = create_account_via_api("acme");
    const auto id = store_message(acme, 1, "s@acme.example", {{"a@dest.example", "queued"}});
    const auto with_body = post("/api/v1/messages/" + id + "/hold", R"({"force":true})");
    EXPECT_EQ(with_body.status, 422u);
    EXPECT_EQ(with_body.error_fields(), std::vector<std::string>{"force"});
    EXPECT_EQ(state_of("a@dest.example"), "queued");
    EXPECT_EQ(audit_rows().size(), 1u);
}

}  // namespace
}  // namespace smarthost::admin::test
