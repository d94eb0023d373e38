// Webhooks end to end: the real binary (smtp, delivery and admin roles), mail sent with
// swaks to an upstream smtp-sink, endpoints made through the admin API, and a python3
// receiver on loopback (webhook_receiver.py) that verifies every signature with the
// secret the API showed, on its own. Asserts the events received, their order, and the
// delivery rows and API answers.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <set>

#include "tests/e2e/admin_http.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct Received {
    std::string id;
    bool valid = false;
    json::value event;
};

// A webhook_receiver.py process on `port`, answering `status` to valid requests.
class Receiver {
  public:
    Receiver(std::uint16_t port, const std::string& secret, std::filesystem::path out,
             int status = 204)
        : out_(std::move(out)),
          process_(std::make_unique<Process>(
              std::vector<std::string>{
                  "python3",
                  std::string(SMARTHOST_E2E_SOURCE_DIR) + "/tests/e2e/webhook_receiver.py",
                  std::to_string(port), secret, out_.string(), std::to_string(status)},
              out_.string() + ".log")) {
        EXPECT_TRUE(wait_for_port("the webhook receiver", "127.0.0.1", port, 10s));
    }
    void stop() {
        process_->signal(SIGKILL);
        process_->wait(10s);
    }

    std::vector<Received> received() const {
        std::vector<Received> all;
        std::ifstream in(out_);
        std::string line;
        while (std::getline(in, line)) {
            auto value = json::parse(line);
            all.push_back(Received{std::string(value.at("id").as_string()),
                                   value.at("valid").as_bool(), value.at("event")});
        }
        return all;
    }

  private:
    std::filesystem::path out_;
    std::unique_ptr<Process> process_;
};

std::string type_of(const Received& r) {
    return std::string(r.event.at("type").as_string());
}

class Webhooks : public ::testing::Test {
  protected:
    Webhooks() : admin_port_(free_port()) {}

    // The relay; receivers on loopback are allowed unless `guard_loopback`.
    void start(bool guard_loopback = false) {
        ServerOptions options;
        options.roles = "smtp,delivery,admin";
        options.listeners = {{"submission", "none"}};
        options.allow_auth_without_tls = true;
        // Two wrong passwords lock a username from a network; the network itself later.
        options.auth_toml =
            "max_failures = 2\nmax_network_failures = 50\nusername_alert_failures = 0\n";
        options.extra_toml =
            "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port_) +
            "\"\n[delivery]\npoll_seconds = 1\n[delivery.upstream]\nhost = \"127.0.0.1\"\n"
            "port = " +
            std::to_string(sink_.port()) +
            "\ntls = \"none\"\n[policy]\nsender_domain_verification = false\n"
            "account_cache_ms = 0\n[webhooks]\npoll_ms = 200\nfirst_retry_seconds = 1\n"
            "max_retry_seconds = 2\nmax_attempts = 6\nrequest_timeout_seconds = 3\n" +
            std::string(guard_loopback ? "" : "allow_destination_networks = [\"127.0.0.0/8\"]\n");
        account_id_ = db_.create_account("shop");
        db_.add_sender_domain(account_id_, "shop.example");
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, '127.0.0.0/8')",
                 account_id_);
        server_ = std::make_unique<SmarthostServer>(db_.url(), options);
        EXPECT_TRUE(wait_for_port("the admin listener", "127.0.0.1", admin_port_, 10s));
        const auto token = server_->subcommand({"token", "create", "--name", "ops"});
        EXPECT_EQ(token.exit_code, 0) << token.output;
        bearer_ = token.output.substr(0, token.output.find('\n'));
    }

    void TearDown() override {
        if (HasFailure() && server_)
            std::cerr << "---- smarthost log ----\n" << server_->log() << '\n';
    }

    HttpResult api(const std::string& method, const std::string& path,
                   const std::string& body = {}) {
        return http(method, admin_port_, path, bearer_, body);
    }

    // Creates an endpoint of the account for `kinds` at 127.0.0.1:port; returns id, secret.
    std::pair<std::int64_t, std::string> add_endpoint(std::int64_t account, std::uint16_t port,
                                                      const std::string& kinds) {
        const auto created =
            api("POST", "/api/v1/accounts/" + std::to_string(account) + "/webhooks",
                R"({"url":"http://127.0.0.1:)" + std::to_string(port) + R"(/hook","event_types":)" +
                    kinds + "}");
        EXPECT_EQ(created.status, 201) << created.text;
        return {created.body.at("id").to_number<std::int64_t>(),
                std::string(created.body.at("secret").as_string())};
    }

    // Sends one message from the account's domain to `to`; returns its queue id.
    std::string send(const std::string& to) {
        const auto sent =
            swaks({"--server", "127.0.0.1:" + std::to_string(server_->port("submission")), "--from",
                   "news@shop.example", "--to", to});
        EXPECT_EQ(sent.exit_code, 0) << sent.output;
        return queued_id(sent.output);
    }

    std::string scalar(std::string_view sql) { return db_.exec(sql).at(0).at(0).value_or("NULL"); }

    test::TestDatabase db_;
    test::SmtpSink sink_{"127.0.0.1"};
    TempDir dir_;
    std::uint16_t admin_port_;
    std::int64_t account_id_ = 0;
    std::unique_ptr<SmarthostServer> server_;
    std::string bearer_;
};

TEST_F(Webhooks, ReceiverGetsSignedMessageDeliveredForMailSent) {
    start();
    const auto port = free_port();
    const auto [endpoint, secret] = add_endpoint(account_id_, port, R"(["message.delivered"])");
    ASSERT_TRUE(secret.starts_with("whsec_"));
    // Never shown again.
    const auto shown = api("GET", "/api/v1/webhooks/" + std::to_string(endpoint));
    ASSERT_EQ(shown.status, 200);
    EXPECT_EQ(shown.text.find(secret.substr(6)), std::string::npos);
    EXPECT_FALSE(shown.body.as_object().contains("secret"));
    EXPECT_EQ(scalar("SELECT count(*) FROM audit_log WHERE detail::text LIKE '%" +
                     secret.substr(6, 12) + "%'"),
              "0");

    Receiver receiver(port, secret, dir_.path() / "received.jsonl");
    const auto id = send("buyer@example.org");
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(wait_until(
        "the receiver got an event", [&] { return !receiver.received().empty(); }, 30s));
    const auto got = receiver.received();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].valid);
    const auto& event = got[0].event;
    EXPECT_EQ(event.at("type").as_string(), "message.delivered");
    EXPECT_EQ(event.at("id").as_string(), got[0].id);
    EXPECT_EQ(event.at("account").at("name").as_string(), "shop");
    EXPECT_EQ(event.at("account").at("id").to_number<std::int64_t>(), account_id_);
    EXPECT_EQ(event.at("data").at("message_id").as_string(), id);
    EXPECT_EQ(event.at("data").at("recipient").as_string(), "buyer@example.org");
    EXPECT_EQ(event.at("data").at("sender").as_string(), "news@shop.example");
    EXPECT_TRUE(std::string(event.at("data").at("reply").as_string()).starts_with("250"));

    ASSERT_TRUE(wait_until("the delivery row is delivered", [&] {
        return scalar("SELECT state || ' ' || last_status FROM webhook_deliveries") ==
               "delivered 204";
    }));
    const auto health = api("GET", "/api/v1/webhooks/" + std::to_string(endpoint));
    EXPECT_EQ(health.body.at("health").at("consecutive_failures").to_number<int>(), 0);
    EXPECT_FALSE(health.body.at("health").at("last_success_at").is_null());
    const auto deliveries =
        api("GET", "/api/v1/webhooks/" + std::to_string(endpoint) + "/deliveries?state=delivered");
    ASSERT_EQ(deliveries.status, 200) << deliveries.text;
    ASSERT_EQ(deliveries.body.at("items").as_array().size(), 1u);
    EXPECT_EQ(deliveries.body.at("items").at(0).at("event_id").as_string(), got[0].id);
}

// The receiver is down while mail is delivered and the account is suspended and resumed:
// the head event is retried with backoff, the later ones wait, and once the receiver is
// back every event arrives, each once, in the order it happened.
TEST_F(Webhooks, AReceiverDownForAWhileGetsEverythingInOrderOnceBack) {
    start();
    const auto port = free_port();
    const auto [endpoint, secret] = add_endpoint(
        account_id_, port, R"(["message.delivered","account.suspended","account.resumed"])");
    const std::vector<std::string> recipients = {"a@example.org", "b@example.org", "c@example.org"};
    for (const auto& to : recipients) {
        send(to);
        ASSERT_TRUE(wait_until(
            to + " delivered",
            [&] {
                return !db_.exec(
                               "SELECT 1 FROM recipients WHERE address = $1 AND state = "
                               "'delivered'",
                               to)
                            .empty();
            },
            30s));
    }
    const auto path = "/api/v1/accounts/" + std::to_string(account_id_);
    EXPECT_EQ(api("POST", path + "/suspend", R"({"reason":"abuse report"})").status, 200);
    EXPECT_EQ(api("POST", path + "/suspend", R"({"reason":"again"})").status, 200);  // no change
    EXPECT_EQ(api("POST", path + "/resume").status, 200);
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_events"), "5");

    // Down: the first event is tried again and again; nothing else is tried.
    ASSERT_TRUE(wait_until(
        "the first event was retried",
        [&] {
            return scalar("SELECT (max(attempts) >= 2)::text FROM webhook_deliveries") == "true";
        },
        20s));
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_deliveries WHERE attempts > 0"), "1");
    const auto failing = api("GET", "/api/v1/webhooks/" + std::to_string(endpoint));
    EXPECT_GE(failing.body.at("health").at("consecutive_failures").to_number<int>(), 1);
    EXPECT_FALSE(failing.body.at("health").at("last_failure_reason").is_null());

    Receiver receiver(port, secret, dir_.path() / "received.jsonl");
    ASSERT_TRUE(wait_until(
        "five events received", [&] { return receiver.received().size() >= 5; }, 40s));
    ASSERT_TRUE(wait_until("every delivery delivered", [&] {
        return scalar("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'") == "5";
    }));
    const auto got = receiver.received();
    ASSERT_EQ(got.size(), 5u);
    std::vector<std::string> types;
    std::vector<std::string> to;
    std::set<std::string> ids;
    for (const auto& r : got) {
        EXPECT_TRUE(r.valid);
        types.push_back(type_of(r));
        ids.insert(r.id);
        if (type_of(r) == "message.delivered")
            to.emplace_back(r.event.at("data").at("recipient").as_string());
    }
    EXPECT_EQ(ids.size(), 5u);
    EXPECT_EQ(types, (std::vector<std::string>{"message.delivered", "message.delivered",
                                               "message.delivered", "account.suspended",
                                               "account.resumed"}));
    EXPECT_EQ(to, recipients);
    EXPECT_EQ(got[3].event.at("data").at("reason").as_string(), "abuse report");
}

// Deliveries that failed for good (the receiver kept answering 503) are replayed through
// the API once the receiver is fixed.
TEST_F(Webhooks, FailedDeliveriesAreReplayedThroughTheApi) {
    start();
    const auto port = free_port();
    const auto [endpoint, secret] = add_endpoint(account_id_, port, R"(["account.suspended"])");
    auto broken = std::make_unique<Receiver>(port, secret, dir_.path() / "broken.jsonl", 503);
    const auto path = "/api/v1/accounts/" + std::to_string(account_id_);
    ASSERT_EQ(api("POST", path + "/suspend").status, 200);
    const auto base = "/api/v1/webhooks/" + std::to_string(endpoint);
    ASSERT_TRUE(wait_until(
        "the delivery failed for good",
        [&] {
            const auto failed = api("GET", base + "/deliveries?state=failed");
            return failed.status == 200 && failed.body.at("items").as_array().size() == 1;
        },
        40s));
    EXPECT_EQ(broken->received().size(), 6u);  // max_attempts
    EXPECT_EQ(scalar("SELECT last_status || ' ' || attempts FROM webhook_deliveries"), "503 6");
    broken->stop();

    Receiver fixed(port, secret, dir_.path() / "fixed.jsonl");
    const auto replayed = api("POST", base + "/replay");
    ASSERT_EQ(replayed.status, 200) << replayed.text;
    EXPECT_EQ(replayed.body.at("replayed").to_number<int>(), 1);
    ASSERT_TRUE(wait_until(
        "the replayed event arrived", [&] { return !fixed.received().empty(); }, 20s));
    EXPECT_TRUE(fixed.received().at(0).valid);
    EXPECT_EQ(type_of(fixed.received().at(0)), "account.suspended");
    EXPECT_EQ(fixed.received().at(0).id, broken->received().at(0).id);  // same event id
    EXPECT_EQ(scalar("SELECT count(*) FROM audit_log WHERE path = '" + base + "/replay'"), "1");
}

// docs/security.md "Webhooks": receivers are operator-configured URLs, so the sender is
// a way into the relay's own network (SSRF). A loopback receiver is refused unless its
// network is allowed: the request is never made, and the delivery says why.
TEST_F(Webhooks, LoopbackReceiversAreRefusedUnlessAllowed) {
    start(true);
    const auto port = free_port();
    const auto [endpoint, secret] = add_endpoint(account_id_, port, R"(["account.suspended"])");
    Receiver receiver(port, secret, dir_.path() / "received.jsonl");
    ASSERT_EQ(api("POST", "/api/v1/accounts/" + std::to_string(account_id_) + "/suspend").status,
              200);
    ASSERT_TRUE(wait_until(
        "the attempt was refused",
        [&] {
            return scalar(
                       "SELECT count(*) FROM webhook_deliveries WHERE attempts > 0 AND "
                       "last_error LIKE '127.0.0.1 is a loopback address%'") == "1";
        },
        20s));
    EXPECT_EQ(scalar("SELECT coalesce(last_status::text, 'none') FROM webhook_deliveries"), "none");
    EXPECT_TRUE(receiver.received().empty());
}

// A redirect is not followed (it could point anywhere), and a receiver that never answers
// is cut off at request_timeout_seconds: both are failures, retried.
TEST_F(Webhooks, RedirectsAreNotFollowedAndSilentReceiversTimeOut) {
    start();
    const auto redirect_port = free_port();
    const auto silent_port = free_port();
    const auto [redirecting, redirect_secret] =
        add_endpoint(account_id_, redirect_port, R"(["account.suspended"])");
    const auto [silent, silent_secret] =
        add_endpoint(account_id_, silent_port, R"(["account.suspended"])");
    Receiver redirect(redirect_port, redirect_secret, dir_.path() / "redirect.jsonl", 307);
    Receiver hang(silent_port, silent_secret, dir_.path() / "silent.jsonl", 0);
    ASSERT_EQ(api("POST", "/api/v1/accounts/" + std::to_string(account_id_) + "/suspend").status,
              200);
    ASSERT_TRUE(wait_until(
        "both were tried and failed",
        [&] {
            return scalar(
                       "SELECT count(*) FROM webhook_deliveries WHERE attempts > 0 AND "
                       "state = 'pending' AND last_error IS NOT NULL") == "2";
        },
        20s));
    EXPECT_EQ(scalar("SELECT last_status || ' ' || last_error FROM webhook_deliveries "
                     "WHERE endpoint_id = " +
                     std::to_string(redirecting)),
              "307 answered 307");
    EXPECT_EQ(scalar("SELECT coalesce(last_status::text, 'none') || ' ' || "
                     "(last_error LIKE 'reading the answer%') FROM webhook_deliveries "
                     "WHERE endpoint_id = " +
                     std::to_string(silent)),
              "none true");
}

// Bad input gets a 422 naming the field; the eleventh endpoint of an account a 409.
TEST_F(Webhooks, BadEndpointsAreRefusedByFieldAndCountIsCapped) {
    start();
    const auto base = "/api/v1/accounts/" + std::to_string(account_id_) + "/webhooks";
    const auto bad = api("POST", base,
                         R"({"url":"http://user:pw@example.com/","event_types":["message.sent"]})");
    ASSERT_EQ(bad.status, 422) << bad.text;
    const auto& errors = bad.body.at("errors").as_array();
    ASSERT_EQ(errors.size(), 2u) << bad.text;
    EXPECT_EQ(errors.at(0).at("field").as_string(), "url");
    EXPECT_EQ(errors.at(0).at("message").as_string(), "must not contain a user name or password");
    EXPECT_EQ(errors.at(1).at("field").as_string(), "event_types[0]");
    const auto missing = api("POST", base, R"({"url":"gopher://example.com/"})");
    ASSERT_EQ(missing.status, 422);
    EXPECT_EQ(missing.body.at("errors").at(0).at("message").as_string(),
              "must start with http:// or https://");
    EXPECT_EQ(missing.body.at("errors").at(1).at("field").as_string(), "event_types");
    EXPECT_EQ(api("POST", "/api/v1/accounts/999999/webhooks",
                  R"({"url":"https://example.com/","event_types":["message.bounced"]})")
                  .status,
              404);
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(
            api("POST", base, R"({"url":"https://example.com/","event_types":["message.bounced"]})")
                .status,
            201);
    const auto eleventh =
        api("POST", base, R"({"url":"https://example.com/","event_types":["message.bounced"]})");
    EXPECT_EQ(eleventh.status, 409) << eleventh.text;
    EXPECT_EQ(scalar("SELECT count(*) FROM webhook_endpoints"), "10");
}

// limit.reached is told once per account, limit and window however often the limit
// refuses; auth.locked when a customer's username is locked out from a network. Neither
// makes the SMTP reply wait (the refusals come as they always do).
TEST_F(Webhooks, LimitReachedAndAuthLockedAreTold) {
    start();
    const auto port = free_port();
    const auto [endpoint, secret] =
        add_endpoint(account_id_, port, R"(["limit.reached","auth.locked"])");
    Receiver receiver(port, secret, dir_.path() / "received.jsonl");
    db_.exec("UPDATE accounts SET messages_per_hour = 1 WHERE id = $1", account_id_);
    const auto submission = "127.0.0.1:" + std::to_string(server_->port("submission"));
    EXPECT_FALSE(send("a@example.org").empty());
    for (const char* to : {"b@example.org", "c@example.org"}) {
        const auto refused =
            swaks({"--server", submission, "--from", "news@shop.example", "--to", to});
        EXPECT_NE(refused.output.find("451 4.7.1"), std::string::npos) << refused.output;
    }
    const auto count_of = [&](const std::string& kind) {
        return scalar("SELECT count(*) FROM webhook_events WHERE kind = '" + kind + "'");
    };
    ASSERT_TRUE(
        wait_until("limit.reached written", [&] { return count_of("limit.reached") == "1"; }));

    const auto credential =
        api("POST", "/api/v1/accounts/" + std::to_string(account_id_) + "/credentials",
            R"({"username":"app@shop.example"})");
    ASSERT_EQ(credential.status, 201) << credential.text;
    for (int i = 0; i < 2; ++i) {
        RawSmtpClient client(server_->port("submission"), "127.0.0.5");
        ASSERT_EQ(reply_code(client.reply()), 220);
        ASSERT_EQ(reply_code(client.command("EHLO x")), 250);
        EXPECT_TRUE(starts_with(client.command(auth_plain("app@shop.example", "wrong")), "535"));
    }
    ASSERT_TRUE(wait_until(
        "both events received", [&] { return receiver.received().size() >= 2; }, 20s));
    const auto got = receiver.received();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[0].valid && got[1].valid);
    EXPECT_EQ(type_of(got[0]), "limit.reached");
    EXPECT_EQ(got[0].event.at("data").at("limit").as_string(), "messages_per_hour");
    EXPECT_EQ(got[0].event.at("data").at("value").to_number<int>(), 1);
    EXPECT_EQ(type_of(got[1]), "auth.locked");
    EXPECT_EQ(got[1].event.at("data").at("kind").as_string(), "username_network");
    EXPECT_EQ(got[1].event.at("data").at("username").as_string(), "app@shop.example");
    EXPECT_EQ(got[1].event.at("data").at("client_network").as_string(), "127.0.0.5");
    EXPECT_EQ(count_of("limit.reached"), "1");
}

}  // namespace
}  // namespace smarthost::e2e
