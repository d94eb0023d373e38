// Traffic shaping per destination group (docs/delivery.md "Traffic shaping per
// destination"), end to end: the real binary, dnsmasq with fixture zones, receiving
// servers on 127.0.0.x. Mail is queued by a relay without the delivery role, then a second
// process delivers it, so that one claim holds it all. Assertions are on the connections
// and transactions the receivers saw and on the recipient rows.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/admin_http.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/scriptable_smtp_server.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using test::DnsRecord;
using test::ScriptableSmtpServer;
using test::SmtpServerScript;

constexpr const char* k_sender = "alice@sender.test";
constexpr const char* k_token = "0123456789abcdef0123456789abcdef";

class Shaping : public ::testing::Test {
  protected:
    Shaping() : mx_port_(free_port()), admin_port_(free_port()) {}

    void TearDown() override {
        if (!HasFailure()) return;
        for (std::size_t i = 0; i < servers_.size(); ++i)
            std::cerr << "---- smarthost " << i << " log ----\n" << servers_[i]->log() << '\n';
    }

    void start_dns(std::vector<DnsRecord> records) {
        records.push_back(DnsRecord::mx("sender.test", 10, "mx.sender.test"));
        records.push_back(DnsRecord::txt("_smarthost.sender.test",
                                         {"smarthost-verification=" + std::string(k_token)}));
        records.push_back(DnsRecord::address("mx.sender.test", "127.0.0.9"));
        dns_ = std::make_unique<test::Dnsmasq>(std::move(records));
    }

    // `shaping` is TOML after [delivery]'s keys: destination groups, [delivery.shaping].
    SmarthostServer& start_relay(const std::string& roles, const std::string& shaping = {}) {
        ServerOptions options;
        options.listeners = {{"submission", "none"}};
        options.roles = roles;
        options.extra_toml =
            "[delivery]\nmx_port = " + std::to_string(mx_port_) +
            "\nallow_destination_networks = [\"127.0.0.0/8\"]\ndns_forwarders = [\"" +
            dns_->forwarder() +
            "\"]\ndns_timeout_ms = 3000\nipv6 = false\npoll_seconds = 1\n"
            "first_retry_seconds = 1\nmax_retry_seconds = 2\nretry_jitter = 0\n"
            "concurrency_per_domain = 4\n" +
            shaping + "\n[delivery.timeouts]\nconnect_seconds = 3\ngreeting_seconds = 10\n" +
            "[policy]\naccount_cache_ms = 0\n";
        if (roles.find("admin") != std::string::npos)
            options.extra_toml +=
                "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port_) + "\"\n";
        if (account_id_ == 0) {
            account_id_ = db_.create_account("customer");
            db_.add_sender_domain(account_id_, "sender.test", "verified", false, k_token);
            db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)",
                     account_id_, "127.0.0.0/8");
        }
        servers_.push_back(std::make_unique<SmarthostServer>(db_.url(), options));
        if (roles.find("admin") != std::string::npos) {
            EXPECT_TRUE(wait_for_port("the admin listener", "127.0.0.1", admin_port_, 10s));
            const auto token = servers_.back()->subcommand({"token", "create", "--name", "ops"});
            EXPECT_EQ(token.exit_code, 0) << token.output;
            bearer_ = token.output.substr(0, token.output.find('\n'));
        }
        return *servers_.back();
    }

    HttpResult api(const std::string& method, const std::string& path) {
        return http(method, admin_port_, path, bearer_);
    }

    // The item of GET /api/v1/destinations for `group`.
    boost::json::object destination(const std::string& group) {
        const auto listed = api("GET", "/api/v1/destinations");
        EXPECT_EQ(listed.status, 200) << listed.text;
        for (const auto& item : listed.body.at("items").as_array())
            if (item.at("name").as_string() == group) return item.as_object();
        ADD_FAILURE() << "no group " << group << " in " << listed.text;
        return {};
    }

    void submit(const std::string& recipient, const std::string& subject) {
        RawSmtpClient client(servers_.front()->port("submission"));
        EXPECT_EQ(reply_code(client.reply()), 220);
        EXPECT_EQ(reply_code(client.command("EHLO client.test")), 250);
        EXPECT_EQ(reply_code(client.command(std::string("MAIL FROM:<") + k_sender + ">")), 250);
        EXPECT_EQ(reply_code(client.command("RCPT TO:<" + recipient + ">")), 250);
        EXPECT_EQ(reply_code(client.command("DATA")), 354);
        std::string content = std::string("From: ") + k_sender + "\r\nTo: " + recipient;
        content += "\r\nSubject: " + subject + "\r\n\r\nHello.\r\n.";
        EXPECT_EQ(reply_code(client.command(content)), 250);
        client.command("QUIT");
    }

    std::size_t count(const std::string& sql) { return std::stoul(*db_.exec(sql)[0][0]); }

    test::TestDatabase db_;
    std::uint16_t mx_port_;
    std::uint16_t admin_port_;
    std::string bearer_;
    std::unique_ptr<test::Dnsmasq> dns_;
    std::vector<std::unique_ptr<SmarthostServer>> servers_;
    std::int64_t account_id_ = 0;
};

// Two domains hosted under one MX suffix form one group: its connection limit holds across
// both, and each connection carries at most messages_per_connection messages.
TEST_F(Shaping, AGroupByMxSuffixLimitsConnectionsAndMessagesPerConnection) {
    start_dns({DnsRecord::mx("one.test", 10, "mx1.isp.test"),
               DnsRecord::mx("two.test", 10, "mx2.isp.test"),
               DnsRecord::address("mx1.isp.test", "127.0.0.3"),
               DnsRecord::address("mx2.isp.test", "127.0.0.3")});
    SmtpServerScript slow;
    slow.final_delay = 200ms;  // keeps each connection open while the other domain's waits
    ScriptableSmtpServer mx(slow, "127.0.0.3", mx_port_);
    const std::string group =
        "[[delivery.destination_group]]\nname = \"isp\"\nmx_suffixes = [\".isp.test\"]\n"
        "max_connections = 1\nmessages_per_connection = 2\n";
    start_relay("smtp", group);
    for (int i = 0; i < 3; ++i) {
        submit("user" + std::to_string(i) + "@one.test", "one" + std::to_string(i));
        submit("user" + std::to_string(i) + "@two.test", "two" + std::to_string(i));
    }
    start_relay("delivery", group);
    ASSERT_TRUE(wait_until(
        "six recipients delivered",
        [&] { return count("SELECT count(*) FROM recipients WHERE state = 'delivered'") == 6; },
        30s));
    EXPECT_EQ(mx.transactions().size(), 6u);
    EXPECT_EQ(mx.max_open_connections(), 1u);  // the group's limit, across both domains
    EXPECT_EQ(mx.connections(), 4u);           // 3 messages per domain, 2 per connection
    EXPECT_EQ(count("SELECT max(attempts) FROM recipients"), 1u);
}

// Six messages for a group allowed three a minute: three go, three wait for the next
// minute in the queue without an attempt counted.
TEST_F(Shaping, MessagesOverTheGroupsRateWaitForTheNextWindowUnattempted) {
    start_dns({DnsRecord::mx("rate.test", 10, "mx.rate.test"),
               DnsRecord::address("mx.rate.test", "127.0.0.3")});
    ScriptableSmtpServer mx(SmtpServerScript{}, "127.0.0.3", mx_port_);
    const std::string group =
        "[[delivery.destination_group]]\nname = \"slow\"\ndomains = [\"rate.test\"]\n"
        "messages_per_minute = 3\n";
    start_relay("smtp", group);
    for (int i = 0; i < 6; ++i)
        submit("user" + std::to_string(i) + "@rate.test", "rate" + std::to_string(i));
    // Windows are UTC minutes: start early in one, so that the next cannot begin before
    // the assertions (at most 15 s of waiting, never a whole minute).
    while (std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
                   .count() %
               60 >
           45)
        std::this_thread::sleep_for(200ms);
    start_relay("delivery", group);
    ASSERT_TRUE(wait_until(
        "three delivered and three back in the queue",
        [&] {
            return count("SELECT count(*) FROM recipients WHERE state = 'delivered'") == 3 &&
                   count(
                       "SELECT count(*) FROM recipients WHERE state = 'queued' "
                       "AND lease_owner IS NULL") == 3;
        },
        30s));
    EXPECT_EQ(mx.transactions().size(), 3u);
    // Not attempted: no attempt counted, no event, due when the minute ends.
    EXPECT_EQ(count("SELECT count(*) FROM recipients WHERE state = 'queued' AND attempts = 0 "
                    "AND next_attempt_at = date_trunc('minute', (SELECT min(created_at) FROM "
                    "events WHERE kind = 'delivered')) + interval '1 minute'"),
              3u);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE kind IN ('attempt', 'deferred')"), 3u);
    EXPECT_EQ(count("SELECT sum(leased) FROM destination_usage WHERE group_name = 'slow' "
                    "AND limit_name = 'messages_per_minute'"),
              3u);
}

// A receiver of the group answers 421 4.7.28: the group backs off for every replica, and
// the rest of the batch goes back to the queue without an attempt.
TEST_F(Shaping, APushBackPutsTheGroupIntoBackoffAndHoldsTheRestOfTheBatch) {
    start_dns({DnsRecord::mx("push.test", 10, "mx.push.test"),
               DnsRecord::address("mx.push.test", "127.0.0.3")});
    SmtpServerScript limited;
    for (int i = 0; i < 4; ++i)
        limited.recipient_replies["user" + std::to_string(i) + "@push.test"] =
            "421 4.7.28 Our system has detected an unusual rate of mail, try again later";
    ScriptableSmtpServer mx(limited, "127.0.0.3", mx_port_);
    const std::string group =
        "[[delivery.destination_group]]\nname = \"pushy\"\ndomains = [\"push.test\"]\n";
    start_relay("smtp", group);
    for (int i = 0; i < 4; ++i)
        submit("user" + std::to_string(i) + "@push.test", "push" + std::to_string(i));
    start_relay("delivery,admin", group);
    ASSERT_TRUE(wait_until(
        "one deferred and three back in the queue",
        [&] {
            return count("SELECT count(*) FROM recipients WHERE state = 'deferred'") == 1 &&
                   count(
                       "SELECT count(*) FROM recipients WHERE state = 'queued' "
                       "AND lease_owner IS NULL") == 3;
        },
        30s));
    const auto backoff = db_.exec(
        "SELECT throttle, backoffs, backoff_until > now() + interval '60 seconds', last_reply "
        "FROM destination_backoff WHERE group_name = 'pushy'");
    ASSERT_EQ(backoff.size(), 1u);
    EXPECT_EQ(*backoff[0][0], "0.5");
    EXPECT_EQ(*backoff[0][1], "1");
    EXPECT_EQ(*backoff[0][2], "t");
    EXPECT_NE(backoff[0][3]->find("4.7.28"), std::string::npos);
    // The three held back: no attempt, due when the backoff ends.
    EXPECT_EQ(count("SELECT count(*) FROM recipients r, destination_backoff b WHERE "
                    "r.state = 'queued' AND r.attempts = 0 AND r.next_attempt_at = "
                    "b.backoff_until"),
              3u);
    EXPECT_EQ(count("SELECT attempts FROM recipients WHERE state = 'deferred'"), 1u);
    std::size_t rcpts = 0;
    for (const auto& command : mx.commands())
        rcpts += command.rfind("RCPT", 0) == 0 ? 1 : 0;
    EXPECT_EQ(rcpts, 1u);

    // The API shows the backoff, and an operator can end it (audited).
    const auto pushy = destination("pushy");
    ASSERT_TRUE(pushy.contains("state"));
    EXPECT_EQ(pushy.at("state").at("in_backoff").as_bool(), true);
    EXPECT_DOUBLE_EQ(pushy.at("state").at("throttle").to_number<double>(), 0.5);
    EXPECT_EQ(pushy.at("state").at("backoffs").to_number<int>(), 1);
    EXPECT_EQ(destination("gmail").at("state").at("in_backoff").as_bool(), false);
    EXPECT_EQ(api("POST", "/api/v1/destinations/nosuchgroup/resume").status, 404);
    const auto resumed = api("POST", "/api/v1/destinations/pushy/resume");
    EXPECT_EQ(resumed.status, 200) << resumed.text;
    EXPECT_EQ(count("SELECT count(*) FROM destination_backoff WHERE group_name = 'pushy' AND "
                    "throttle = 1 AND backoff_until <= now()"),
              1u);
    EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE path = "
                    "'/api/v1/destinations/pushy/resume' AND status = 200"),
              1u);
    EXPECT_EQ(destination("pushy").at("state").at("in_backoff").as_bool(), false);
}

// An MX host that refuses to serve (421 at the greeting) twice opens its circuit: the
// third message goes straight to the next MX host, and the circuit is visible to every
// replica in the database.
TEST_F(Shaping, AFailingMxHostOpensItsCircuitAndIsSkipped) {
    start_dns({DnsRecord::mx("dead.test", 10, "mx1.dead.test"),
               DnsRecord::mx("dead.test", 20, "mx2.dead.test"),
               DnsRecord::address("mx1.dead.test", "127.0.0.4"),
               DnsRecord::address("mx2.dead.test", "127.0.0.5")});
    SmtpServerScript refusing;
    refusing.greeting = "421 4.3.2 Service not available, closing transmission channel";
    ScriptableSmtpServer mx1(refusing, "127.0.0.4", mx_port_);
    ScriptableSmtpServer mx2(SmtpServerScript{}, "127.0.0.5", mx_port_);
    start_relay("smtp,delivery,admin",
                "[delivery.shaping]\ncircuit_failures = 2\ncircuit_cooldown_seconds = 300\n");
    for (int i = 0; i < 3; ++i) {
        const std::string to = "user" + std::to_string(i) + "@dead.test";
        submit(to, "dead" + std::to_string(i));
        ASSERT_TRUE(wait_until(
            to + " delivered",
            [&] {
                return count(
                           "SELECT count(*) FROM recipients WHERE state = 'delivered' AND "
                           "address = '" +
                           to + "'") == 1;
            },
            30s));
    }
    EXPECT_EQ(mx2.transactions().size(), 3u);
    EXPECT_EQ(mx1.connections(), 2u);  // the third message did not try it
    const auto circuit = db_.exec(
        "SELECT failures, open_until > now() + interval '200 seconds', last_error "
        "FROM destination_circuits WHERE host = 'mx1.dead.test'");
    ASSERT_EQ(circuit.size(), 1u);
    EXPECT_EQ(*circuit[0][0], "2");
    EXPECT_EQ(*circuit[0][1], "t");
    EXPECT_NE(circuit[0][2]->find("421 4.3.2"), std::string::npos);
    EXPECT_EQ(count("SELECT count(*) FROM destination_circuits WHERE host = 'mx2.dead.test'"), 0u);
    const auto circuits = api("GET", "/api/v1/destinations/circuits");
    ASSERT_EQ(circuits.status, 200) << circuits.text;
    const auto& items = circuits.body.at("items").as_array();
    ASSERT_EQ(items.size(), 1u) << circuits.text;
    EXPECT_EQ(items[0].at("host").as_string(), "mx1.dead.test");
    EXPECT_EQ(items[0].at("half_open").as_bool(), false);
    EXPECT_EQ(api("GET", "/api/v1/destinations/circuits?limit=0").status, 422);
}

// When every MX host of a domain has an open circuit, its mail waits in the queue for the
// earliest re-opening without an attempt counted.
TEST_F(Shaping, MailForADomainWhoseEveryMxIsOpenWaitsUnattempted) {
    start_dns({DnsRecord::mx("down.test", 10, "mx.down.test"),
               DnsRecord::address("mx.down.test", "127.0.0.4")});
    SmtpServerScript refusing;
    refusing.greeting = "421 4.3.2 Service not available, closing transmission channel";
    ScriptableSmtpServer mx(refusing, "127.0.0.4", mx_port_);
    start_relay("smtp,delivery",
                "[delivery.shaping]\ncircuit_failures = 2\ncircuit_cooldown_seconds = 300\n");
    submit("bob@down.test", "down");
    // Two attempts (first_retry_seconds = 1) open the circuit; the third finds it open.
    ASSERT_TRUE(wait_until(
        "the recipient waiting for the circuit",
        [&] {
            return count(
                       "SELECT count(*) FROM recipients r JOIN destination_circuits c ON "
                       "c.host = 'mx.down.test' WHERE r.state = 'deferred' AND r.lease_owner "
                       "IS NULL AND r.next_attempt_at = c.open_until") == 1;
        },
        30s));
    EXPECT_EQ(count("SELECT attempts FROM recipients"), 2u);
    EXPECT_EQ(mx.connections(), 2u);
    EXPECT_EQ(count("SELECT count(*) FROM events WHERE kind = 'attempt'"), 2u);
}

}  // namespace
}  // namespace smarthost::e2e
