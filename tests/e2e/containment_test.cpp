// Containment end to end (docs/abuse.md): the real binary with the smtp, delivery and
// admin roles, customers made through the API submitting with swaks over STARTTLS and
// AUTH, and a scriptable upstream that defers until the test lets mail through. A
// disabled credential, a suspension and a bulk queue action through the API decide which
// of the queued mail the upstream then receives.

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "tests/e2e/admin_http.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/support/scriptable_smtp_server.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::ScriptableSmtpServer;
using test::SmtpServerScript;

SmtpServerScript deferring(const std::vector<std::string>& addresses) {
    SmtpServerScript script;
    for (const auto& address : addresses)
        script.recipient_replies[address] = "451 4.3.0 Try again later";
    return script;
}

class Containment : public ::testing::Test {
  protected:
    void SetUp() override {
        ServerOptions options;
        options.roles = "smtp,delivery,admin";
        options.extra_toml = "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port_) +
                             "\"\n[delivery]\npoll_seconds = 1\nfirst_retry_seconds = 1\n"
                             "max_retry_seconds = 1\nretry_jitter = 0\n"
                             "[delivery.upstream]\nhost = \"127.0.0.1\"\nport = " +
                             std::to_string(upstream_.port()) +
                             "\ntls = \"none\"\n[policy]\naccount_cache_ms = 0\n" + extra_config();
        server_ = std::make_unique<SmarthostServer>(db_.url(), options);
        ASSERT_TRUE(wait_for_port("the admin listener", "127.0.0.1", admin_port_, 10s))
            << server_->log();
        const auto token = server_->subcommand({"token", "create", "--name", "ops"});
        ASSERT_EQ(token.exit_code, 0) << token.output;
        bearer_ = token.output.substr(0, token.output.find('\n'));
    }

    virtual std::string extra_config() const { return {}; }

    void TearDown() override {
        if (HasFailure()) std::cerr << "---- smarthost log ----\n" << server_->log() << '\n';
    }

    HttpResult api(const std::string& method, const std::string& path,
                   const std::string& body = {}) {
        return http(method, admin_port_, path, bearer_, body);
    }

    std::int64_t account(const std::string& name, const std::string& domain) {
        auto made = api("POST", "/api/v1/accounts", R"({"name":")" + name + R"("})");
        EXPECT_EQ(made.status, 201) << made.text;
        const auto id = made.body.at("id").to_number<std::int64_t>();
        auto added = api("POST", "/api/v1/accounts/" + std::to_string(id) + "/domains",
                         R"({"domain":")" + domain + R"("})");
        EXPECT_EQ(added.status, 201) << added.text;
        db_.exec(
            "UPDATE sender_domains SET status = 'verified', verified_at = now(), "
            "checked_at = now() WHERE account_id = $1",
            id);
        return id;
    }

    struct Login {
        std::int64_t id = 0;
        std::string username;
        std::string password;
    };

    Login credential(std::int64_t account_id, const std::string& username) {
        auto made = api("POST", "/api/v1/accounts/" + std::to_string(account_id) + "/credentials",
                        R"({"username":")" + username + R"("})");
        EXPECT_EQ(made.status, 201) << made.text;
        return {made.body.at("id").to_number<std::int64_t>(), username,
                std::string(made.body.at("password").as_string())};
    }

    // One message through swaks, whatever the answer; send() insists it was accepted.
    auto submit(const Login& login, const std::string& from, const std::string& to,
                const std::string& header = {}) {
        std::vector<std::string> args{"--server",
                                      "127.0.0.1:" + std::to_string(server_->port("submission")),
                                      "--tls",
                                      "--auth",
                                      "PLAIN",
                                      "--auth-user",
                                      login.username,
                                      "--auth-password",
                                      login.password,
                                      "--from",
                                      from,
                                      "--to",
                                      to};
        if (!header.empty()) {
            args.emplace_back("--add-header");
            args.push_back(header);
        }
        return swaks(args);
    }

    void send(const Login& login, const std::string& from, const std::string& to,
              const std::string& header = {}) {
        const auto sent = submit(login, from, to, header);
        ASSERT_EQ(sent.exit_code, 0) << sent.output;
    }

    std::string state_of(const std::string& address) {
        const auto rows = db_.exec("SELECT state FROM recipients WHERE address = $1", address);
        return rows.empty() ? "" : *rows[0][0];
    }

    testing::AssertionResult reaches(const std::string& address, const std::string& state) {
        return wait_until(
            address + " " + state, [&] { return state_of(address) == state; }, 30s);
    }

    std::vector<std::string> received() {
        std::vector<std::string> addresses;
        for (const auto& transaction : upstream_.transactions())
            for (const auto& recipient : transaction.recipients)
                addresses.push_back(recipient);
        std::sort(addresses.begin(), addresses.end());
        return addresses;
    }

    test::TestDatabase db_;
    std::uint16_t admin_port_ = free_port();
    ScriptableSmtpServer upstream_{deferring(
        {"spam@dest.example", "order@dest.example", "later@dest.example", "note@dest.example"})};
    std::unique_ptr<SmarthostServer> server_;
    std::string bearer_;
};

TEST_F(Containment, HeldUnitsKeepTheirQueuedMailWhileEveryoneElseDelivers) {
    const auto hosting = account("hosting", "hosting.example");
    const auto other = account("other", "other.example");
    const auto wordpress = credential(hosting, "wordpress");
    const auto shop = credential(hosting, "shop");
    const auto neighbour = credential(other, "neighbour");
    send(wordpress, "blog@hosting.example", "spam@dest.example");
    send(shop, "shop@hosting.example", "order@dest.example");
    send(shop, "shop@hosting.example", "later@dest.example");
    send(neighbour, "me@other.example", "note@dest.example");
    for (const auto* address :
         {"spam@dest.example", "order@dest.example", "later@dest.example", "note@dest.example"})
        ASSERT_TRUE(reaches(address, "deferred"));

    // The stolen credential is disabled: its queued mail is held, and only its own.
    const auto disabled =
        api("POST", "/api/v1/credentials/" + std::to_string(wordpress.id) + "/disable");
    ASSERT_EQ(disabled.status, 200) << disabled.text;
    ASSERT_TRUE(reaches("spam@dest.example", "held"));
    const auto holds = api("GET", "/api/v1/holds?account_id=" + std::to_string(hosting));
    ASSERT_EQ(holds.status, 200) << holds.text;
    ASSERT_EQ(holds.body.at("items").as_array().size(), 1u) << holds.text;
    EXPECT_EQ(holds.body.at("items").at(0).at("reason").as_string(), "credential_disabled");
    EXPECT_EQ(holds.body.at("items").at(0).at("credential_id").to_number<std::int64_t>(),
              wordpress.id);

    // The upstream lets everything through except later@ (still deferring), and the
    // account is suspended while later@ waits: it is held too.
    upstream_.set_script(deferring({"later@dest.example"}));
    ASSERT_TRUE(reaches("order@dest.example", "delivered"));
    ASSERT_TRUE(reaches("note@dest.example", "delivered"));
    const auto suspended = api("POST", "/api/v1/accounts/" + std::to_string(hosting) + "/suspend",
                               R"({"reason":"compromised site"})");
    ASSERT_EQ(suspended.status, 200) << suspended.text;
    ASSERT_TRUE(reaches("later@dest.example", "held"));
    upstream_.set_script(SmtpServerScript{});
    std::this_thread::sleep_for(3s);  // several retry rounds of the 1-second schedule
    EXPECT_EQ(state_of("spam@dest.example"), "held");
    EXPECT_EQ(state_of("later@dest.example"), "held");
    EXPECT_EQ(received(), (std::vector<std::string>{"note@dest.example", "order@dest.example"}));

    // Resumed: later@ goes; the disabled credential's spam still waits.
    const auto resumed = api("POST", "/api/v1/accounts/" + std::to_string(hosting) + "/resume");
    ASSERT_EQ(resumed.status, 200) << resumed.text;
    ASSERT_TRUE(reaches("later@dest.example", "delivered"));
    EXPECT_EQ(state_of("spam@dest.example"), "held");

    // The spam is cancelled by a bulk action on the credential, answered with its count.
    const auto cancelled = api(
        "POST", "/api/v1/queue/actions",
        R"({"action":"cancel","filter":{"credential_id":)" + std::to_string(wordpress.id) + "}}");
    ASSERT_EQ(cancelled.status, 200) << cancelled.text;
    EXPECT_EQ(cancelled.body.at("state").as_string(), "done");
    EXPECT_EQ(cancelled.body.at("recipients").to_number<std::int64_t>(), 1);
    EXPECT_EQ(state_of("spam@dest.example"), "cancelled");
    EXPECT_EQ(received(), (std::vector<std::string>{"later@dest.example", "note@dest.example",
                                                    "order@dest.example"}));
    // Each step is audited under the token's name.
    EXPECT_EQ(db_.exec("SELECT count(*) FROM audit_log WHERE token_name = 'ops' AND path IN "
                       "('/api/v1/queue/actions', '/api/v1/accounts/" +
                       std::to_string(hosting) + "/suspend')")
                  .at(0)
                  .at(0),
              "2");
}

// The sender of mail cancelled with bounces gets a delivery report through the upstream,
// from the null sender, naming the recipient and why.
TEST_F(Containment, BouncingCancelSendsTheSenderADeliveryReport) {
    const auto hosting = account("hosting", "hosting.example");
    const auto shop = credential(hosting, "shop");
    upstream_.set_script(deferring({"gone@dest.example"}));
    send(shop, "shop@hosting.example", "gone@dest.example");
    ASSERT_TRUE(reaches("gone@dest.example", "deferred"));

    const auto cancelled = api("POST", "/api/v1/queue/actions",
                               R"({"action":"cancel","bounce":true,"filter":{"credential_id":)" +
                                   std::to_string(shop.id) + "}}");
    ASSERT_EQ(cancelled.status, 200) << cancelled.text;
    EXPECT_TRUE(cancelled.body.at("bounce").as_bool());
    EXPECT_EQ(cancelled.body.at("recipients").to_number<std::int64_t>(), 1);
    EXPECT_EQ(state_of("gone@dest.example"), "cancelled");
    ASSERT_TRUE(reaches("shop@hosting.example", "delivered"));
    std::vector<test::ReceivedTransaction> reports;
    for (const auto& transaction : upstream_.transactions())
        if (transaction.recipients == std::vector<std::string>{"shop@hosting.example"})
            reports.push_back(transaction);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports[0].mail_command.find("FROM:<>"), std::string::npos)
        << reports[0].mail_command;
    EXPECT_NE(reports[0].body.find("Final-Recipient: rfc822;gone@dest.example"), std::string::npos)
        << reports[0].body;
    EXPECT_NE(reports[0].body.find("550 5.0.0 Delivery cancelled by the relay operator"),
              std::string::npos)
        << reports[0].body;
}

TEST_F(Containment, OperatorHoldLetsTheCustomerSubmitButNothingLeaves) {
    const auto hosting = account("hosting", "hosting.example");
    const auto shop = credential(hosting, "shop");
    upstream_.set_script(SmtpServerScript{});
    const auto held = api("POST", "/api/v1/accounts/" + std::to_string(hosting) + "/holds",
                          R"({"note":"looking into a complaint"})");
    ASSERT_EQ(held.status, 201) << held.text;
    const auto hold_id = held.body.at("hold").at("id").to_number<std::int64_t>();
    EXPECT_EQ(held.body.at("hold").at("reason").as_string(), "operator");
    EXPECT_EQ(api("POST", "/api/v1/accounts/" + std::to_string(hosting) + "/holds").status, 409);

    send(shop, "shop@hosting.example", "order@dest.example");  // accepted: 250
    ASSERT_TRUE(reaches("order@dest.example", "held"));
    std::this_thread::sleep_for(2s);
    EXPECT_TRUE(received().empty());
    const auto shown = api("GET", "/api/v1/holds/" + std::to_string(hold_id));
    EXPECT_EQ(shown.body.at("recipients_held").to_number<std::int64_t>(), 1) << shown.text;

    const auto released = api("POST", "/api/v1/holds/" + std::to_string(hold_id) + "/release");
    ASSERT_EQ(released.status, 200) << released.text;
    EXPECT_FALSE(released.body.at("hold").at("active").as_bool());
    ASSERT_TRUE(reaches("order@dest.example", "delivered"));
    EXPECT_EQ(api("POST", "/api/v1/holds/" + std::to_string(hold_id) + "/release").status, 409);
}

TEST_F(Containment, BadQueueActionsAreRefusedNamingTheField) {
    const auto refused = [&](const std::string& body, const std::string& field) {
        const auto reply = api("POST", "/api/v1/queue/actions", body);
        EXPECT_EQ(reply.status, 422) << body << " " << reply.text;
        EXPECT_NE(reply.text.find("\"" + field + "\""), std::string::npos) << reply.text;
    };
    refused(R"({"action":"delete","filter":{"account_id":1}})", "action");
    refused(R"({"action":"hold"})", "filter");
    refused(R"({"action":"hold","filter":{}})", "filter");
    refused(R"({"action":"hold","filter":{"account_id":0}})", "filter.account_id");
    refused(R"({"action":"hold","filter":{"sender":"not an address"}})", "filter.sender");
    refused(R"({"action":"hold","filter":{"received_after":"yesterday"}})",
            "filter.received_after");
    refused(R"({"action":"hold","filter":{"recipient_domain":"x"}})", "filter.recipient_domain");
    refused(R"({"action":"hold","filter":{"account_id":1,"sql":"1=1"}})", "filter.sql");
    refused(R"({"action":"retry","bounce":true,"filter":{"account_id":1}})", "bounce");
    refused(R"({"action":"cancel","bounce":"yes","filter":{"account_id":1}})", "bounce");
    EXPECT_EQ(db_.exec("SELECT count(*) FROM queue_jobs").at(0).at(0), "0");
}

// The volume rule with a threshold a test can reach, evaluated every second, holding.
class ContainmentBounded : public Containment {
  protected:
    std::string extra_config() const override {
        return "[abuse]\nenabled = false\nmax_held_recipients = 2\n";
    }
};

// A held unit keeps submitting until [abuse] max_held_recipients of its recipients wait
// under the hold; then its new mail is deferred, and only its own.
TEST_F(ContainmentBounded, AHeldUnitCannotFillTheQueue) {
    upstream_.set_script(SmtpServerScript{});
    const auto hosting = account("hosting", "hosting.example");
    const auto wordpress = credential(hosting, "wordpress");
    const auto shop = credential(hosting, "shop");
    const auto held = api("POST", "/api/v1/accounts/" + std::to_string(hosting) + "/holds",
                          R"({"credential_id":)" + std::to_string(wordpress.id) + "}");
    ASSERT_EQ(held.status, 201) << held.text;
    const auto hold_id = held.body.at("hold").at("id").to_number<std::int64_t>();
    send(wordpress, "blog@hosting.example", "spam1@dest.example");
    send(wordpress, "blog@hosting.example", "spam2@dest.example");
    ASSERT_TRUE(reaches("spam1@dest.example", "held"));
    ASSERT_TRUE(reaches("spam2@dest.example", "held"));

    const auto refused = submit(wordpress, "blog@hosting.example", "spam3@dest.example");
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.output.find("452 4.3.1 Too much of this sender's mail is waiting"),
              std::string::npos)
        << refused.output;
    EXPECT_EQ(state_of("spam3@dest.example"), "");  // not stored
    const auto rejections =
        db_.exec("SELECT credential_id FROM rejections WHERE reason = 'held_mail_full'");
    ASSERT_EQ(rejections.size(), 1u);
    EXPECT_EQ(*rejections[0][0], std::to_string(wordpress.id));
    // The account's other credential is not held: its mail is taken and delivered.
    send(shop, "shop@hosting.example", "order@dest.example");
    ASSERT_TRUE(reaches("order@dest.example", "delivered"));

    const auto released = api("POST", "/api/v1/holds/" + std::to_string(hold_id) + "/release");
    ASSERT_EQ(released.status, 200) << released.text;
    ASSERT_TRUE(reaches("spam2@dest.example", "delivered"));
    send(wordpress, "blog@hosting.example", "spam3@dest.example");
}

class ContainmentRules : public Containment {
  protected:
    std::string extra_config() const override {
        return "[abuse]\ninterval_seconds = 1\n[abuse.rules.volume]\nwindow_seconds = 60\n"
               "threshold = 8\nfactor = 1\naction = \"hold\"\n";
    }
};

TEST_F(ContainmentRules, ASpamBurstThroughOneCredentialIsHeldWithinSecondsAndNoOneElseWaits) {
    upstream_.set_script(SmtpServerScript{});
    const auto hosting = account("hosting", "hosting.example");
    const auto other = account("other", "other.example");
    const auto wordpress = credential(hosting, "wordpress");
    const auto shop = credential(hosting, "shop");
    const auto neighbour = credential(other, "neighbour");

    const auto burst_started = std::chrono::steady_clock::now();
    for (int i = 0; i < 8; ++i)
        send(wordpress, "blog@hosting.example", "victim" + std::to_string(i) + "@dest.example");
    ASSERT_TRUE(wait_until(
        "the burst's credential held",
        [&] {
            return db_.exec(
                          "SELECT 1 FROM holds WHERE reason = 'rule:volume' AND credential_id "
                          "= $1 AND released_at IS NULL",
                          wordpress.id)
                       .size() == 1;
        },
        30s));
    const auto held_after = std::chrono::steady_clock::now() - burst_started;
    EXPECT_LT(held_after, 60s);  // the issue's bound: within a minute of the burst starting
    std::cerr << "held "
              << std::chrono::duration_cast<std::chrono::milliseconds>(held_after).count()
              << " ms after the burst started\n";

    // The burst goes on, and none of it leaves; the account's other credential and the
    // other account deliver as usual.
    send(wordpress, "blog@hosting.example", "late1@dest.example");
    send(wordpress, "blog@hosting.example", "late2@dest.example");
    send(shop, "shop@hosting.example", "order@dest.example");
    send(neighbour, "me@other.example", "note@dest.example");
    ASSERT_TRUE(reaches("order@dest.example", "delivered"));
    ASSERT_TRUE(reaches("note@dest.example", "delivered"));
    ASSERT_TRUE(reaches("late1@dest.example", "held"));
    ASSERT_TRUE(reaches("late2@dest.example", "held"));
    const auto got = received();
    EXPECT_EQ(std::count(got.begin(), got.end(), "late1@dest.example"), 0);
    EXPECT_EQ(std::count(got.begin(), got.end(), "late2@dest.example"), 0);

    // The trip and its evidence, and the operator's release through the API.
    const auto trips = db_.exec(
        "SELECT rule, action, (evidence->>'observed')::int >= 8 "
        "FROM rule_trips WHERE credential_id = $1",
        wordpress.id);
    ASSERT_EQ(trips.size(), 1u);
    EXPECT_EQ(*trips[0][1], "hold");
    EXPECT_EQ(*trips[0][2], "t");
    const auto hold_id =
        std::stoll(*db_.exec("SELECT id FROM holds WHERE reason = 'rule:volume'").at(0).at(0));
    const auto released = api("POST", "/api/v1/holds/" + std::to_string(hold_id) + "/release");
    ASSERT_EQ(released.status, 200) << released.text;
    ASSERT_TRUE(reaches("late1@dest.example", "delivered"));
}

TEST_F(ContainmentRules, ASpamBurstThroughOneSubUserHoldsThatSiteOnly) {
    // A hosting server submits every site's mail over one credential and names the site in
    // X-AuthUser, which the account trusts.
    upstream_.set_script(SmtpServerScript{});
    const auto hosting = account("hosting", "hosting.example");
    const auto panel = credential(hosting, "panel");
    const auto patched = api("PATCH", "/api/v1/accounts/" + std::to_string(hosting),
                             R"({"sub_users":{"header":"X-AuthUser"}})");
    ASSERT_EQ(patched.status, 200) << patched.text;

    for (int i = 0; i < 8; ++i)
        send(panel, "blog@hosting.example", "victim" + std::to_string(i) + "@dest.example",
             "X-AuthUser: blog1");
    ASSERT_TRUE(wait_until(
        "the bursting site held",
        [&] {
            return db_.exec(
                          "SELECT 1 FROM holds WHERE reason = 'rule:volume' AND sub_user = "
                          "'blog1' AND credential_id IS NULL AND released_at IS NULL")
                       .size() == 1;
        },
        30s));
    send(panel, "blog@hosting.example", "late@dest.example", "X-AuthUser: blog1");
    send(panel, "shop@hosting.example", "order@dest.example", "X-AuthUser: shop");
    ASSERT_TRUE(reaches("order@dest.example", "delivered"));
    ASSERT_TRUE(reaches("late@dest.example", "held"));
    const auto got = received();
    EXPECT_EQ(std::count(got.begin(), got.end(), "late@dest.example"), 0);
    // Only the site: not the panel's credential, not the account.
    EXPECT_EQ(db_.exec("SELECT count(*) FROM holds WHERE released_at IS NULL").at(0).at(0), "1");
}

}  // namespace
}  // namespace smarthost::e2e
