// Metrics and health end to end (docs/metrics.md): the real binary scraped over HTTP,
// its exposition checked by `promtool check metrics`, /readyz following a real database
// outage, and a real Prometheus server scraping it while mail is sent with swaks.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "tests/e2e/harness.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/scriptable_smtp_server.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* k_username = "alice@customer.example";
constexpr const char* k_password = "correct horse battery";

struct HttpAnswer {
    int status = 0;  // 0: no HTTP answer at all
    std::string body;
};

HttpAnswer http_get(std::uint16_t port, const std::string& target) {
    const auto result =
        run_command({"curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}",
                     "http://127.0.0.1:" + std::to_string(port) + target});
    HttpAnswer answer;
    const auto newline = result.output.rfind('\n');
    if (result.exit_code != 0 || newline == std::string::npos) return answer;
    answer.status = std::atoi(result.output.c_str() + newline + 1);
    answer.body = result.output.substr(0, newline);
    return answer;
}

// Polls until `done` holds, at most `deadline`; true if it did.
template <class Condition>
bool eventually(Condition done, std::chrono::seconds deadline) {
    const auto until = Clock::now() + deadline;
    while (Clock::now() < until) {
        if (done()) return true;
        std::this_thread::sleep_for(200ms);
    }
    return done();
}

// The value of one series in a scrape; -1 when it is absent.
double series_value(const std::string& scrape, const std::string& series) {
    const auto at = scrape.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(scrape.substr(at + series.size() + 2));
}

std::string metrics_section(std::uint16_t port) {
    return "[metrics]\naddress = \"127.0.0.1:" + std::to_string(port) + "\"\n";
}

CommandResult send_one(std::uint16_t smtp_port, const std::string& password = k_password) {
    return swaks({"--server", "127.0.0.1:" + std::to_string(smtp_port), "--tls", "--auth", "PLAIN",
                  "--auth-user", k_username, "--auth-password", password, "--from",
                  "alice@customer.example", "--to", "bob@example.org"});
}

class MetricsEndToEnd : public ::testing::Test {
  protected:
    void start(ServerOptions options) {
        const auto account = db_.create_account("customer");
        // Verified and just checked: the delivery role's re-check is not due during a test.
        db_.exec("UPDATE sender_domains SET checked_at = now() WHERE id = $1",
                 db_.add_sender_domain(account, "customer.example"));
        server_ = std::make_unique<SmarthostServer>(
            database_url_.empty() ? db_.url() : database_url_, std::move(options));
        const auto credential =
            server_->subcommand({"credential", "set", "--account", "customer", "--username",
                                 k_username, "--password", k_password});
        ASSERT_EQ(credential.exit_code, 0) << credential.output;
        ASSERT_TRUE(wait_for_port("the metrics listener", "127.0.0.1", metrics_port_, 10s))
            << server_->log();
    }

    void TearDown() override {
        if (HasFailure() && server_) std::cerr << "---- smarthost log ----\n" << server_->log();
    }

    test::TestDatabase db_;
    std::string database_url_;  // empty: db_.url()
    std::uint16_t metrics_port_ = free_port();
    std::unique_ptr<SmarthostServer> server_;
};

TEST_F(MetricsEndToEnd, ScrapeAfterTrafficPassesPromtoolAndCountsWhatHappened) {
    ServerOptions options;
    options.extra_toml = metrics_section(metrics_port_);
    start(options);
    const auto submission = server_->port("submission");
    // The harness has already probed the port: count from here.
    const auto connections_before =
        series_value(http_get(metrics_port_, "/metrics").body,
                     "smarthost_smtp_connections_total{listener=\"submission\"}");

    const auto sent = send_one(submission);
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
    EXPECT_NE(send_one(submission, "wrong password").exit_code, 0);
    // Not authenticated, not from an allow-listed network: 530 at RCPT (contract 2).
    const auto relay =
        swaks({"--server", "127.0.0.1:" + std::to_string(submission), "--local-interface",
               "127.0.0.3", "--from", "x@stranger.example", "--to", "bob@example.org"});
    EXPECT_NE(relay.output.find("530 5.7.0"), std::string::npos) << relay.output;

    // The queue gauges are read from PostgreSQL at most once a second.
    HttpAnswer scrape;
    ASSERT_TRUE(eventually(
        [&] {
            scrape = http_get(metrics_port_, "/metrics");
            return series_value(scrape.body, "smarthost_queue_recipients{state=\"queued\"}") == 1;
        },
        10s))
        << scrape.body;
    TempDir dir;
    const auto scrape_file = dir.path() / "scrape.txt";
    std::ofstream(scrape_file) << scrape.body;
    const auto lint =
        run_command({"sh", "-c", "promtool check metrics < '" + scrape_file.string() + "'"});
    EXPECT_EQ(lint.exit_code, 0) << lint.output;
    EXPECT_EQ(lint.output, "") << "promtool found problems:\n" << lint.output;

    const auto& text = scrape.body;
    for (const char* line : {
             "smarthost_messages_accepted_total{account=\"customer\"} 1\n",
             "smarthost_recipients_accepted_total{account=\"customer\"} 1\n",
             "smarthost_smtp_auth_total{listener=\"submission\",result=\"success\"} 1\n",
             "smarthost_smtp_auth_total{listener=\"submission\",result=\"invalid_credentials\"} "
             "1\n",
             "smarthost_messages_rejected_total{reason=\"authentication_required\"} 1\n",
             "smarthost_smtp_sessions{listener=\"submission\"} 0\n",
             "smarthost_queue_recipients{state=\"queued\"} 1\n",
             "smarthost_group_commit_batch_messages_count 1\n",
         })
        EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << text;
    EXPECT_EQ(series_value(text, "smarthost_smtp_connections_total{listener=\"submission\"}"),
              connections_before + 3);
    // Nothing is labelled by client address, sender or recipient.
    for (const char* personal : {"127.0.0.3", "alice@", "bob@", "stranger.example"})
        EXPECT_EQ(text.find(personal), std::string::npos) << personal << " in:\n" << text;
}

TEST_F(MetricsEndToEnd, ReadyzFollowsTheDatabaseWhileHealthzStaysUp) {
    test::TcpProxy proxy(db_.url());
    database_url_ = proxy.url();
    metrics_port_ = free_port();  // chosen while the proxy holds its port: not the same one
    const auto admin_port = free_port();
    ServerOptions options;
    options.roles = "smtp,admin";
    options.extra_toml = metrics_section(metrics_port_) +
                         "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port) + "\"\n";
    start(options);
    ASSERT_TRUE(wait_for_port("the admin listener", "127.0.0.1", admin_port, 10s));

    for (const auto port : {metrics_port_, admin_port}) {
        const auto ready = http_get(port, "/readyz");
        EXPECT_EQ(ready.status, 200) << ready.body;
        EXPECT_NE(ready.body.find(R"("status":"ready")"), std::string::npos) << ready.body;
        EXPECT_EQ(http_get(port, "/healthz").status, 200);
        // No token needed for the monitoring routes, on either listener.
        EXPECT_EQ(http_get(port, "/metrics").status, 200);
    }
    // The admin API proper still needs its token; the metrics listener has no API at all.
    EXPECT_EQ(http_get(admin_port, "/api/v1/accounts").status, 401);
    EXPECT_EQ(http_get(metrics_port_, "/api/v1/accounts").status, 404);

    proxy.stop();  // PostgreSQL unreachable, as in an outage
    HttpAnswer during;
    ASSERT_TRUE(eventually(
        [&] {
            during = http_get(metrics_port_, "/readyz");
            return during.status == 503;
        },
        30s))
        << during.status << " " << during.body;
    const auto problem = boost::json::parse(during.body);
    EXPECT_EQ(problem.at("status"), "not ready");
    const auto& checks = problem.at("checks").as_array();
    ASSERT_EQ(checks.size(), 4u);
    EXPECT_EQ(checks[0].at("name"), "database");
    EXPECT_EQ(checks[0].at("ok"), false);
    EXPECT_EQ(checks[2].at("name"), "listeners");
    EXPECT_EQ(checks[2].at("ok"), true);
    EXPECT_EQ(checks[3].at("name"), "durability");
    EXPECT_EQ(checks[3].at("ok"), false);
    EXPECT_EQ(http_get(metrics_port_, "/healthz").status, 200);
    EXPECT_EQ(http_get(admin_port, "/readyz").status, 503);

    proxy.start();
    EXPECT_TRUE(eventually([&] { return http_get(metrics_port_, "/readyz").status == 200; }, 30s));
}

// Delivery outcomes are counted per account once recorded: a delivered, a bounced and a
// deferred recipient at a scripted MX, and the bounce (a DSN) delivered to the sender's.
TEST_F(MetricsEndToEnd, DeliveryOutcomesLatencyAndDnsLookupsAreCounted) {
    const auto mx_port = free_port();
    test::Dnsmasq dns({test::DnsRecord::mx("dest.test", 10, "mx1.dest.test"),
                       test::DnsRecord::address("mx1.dest.test", "127.0.0.3"),
                       test::DnsRecord::mx("customer.example", 10, "mx.customer.example"),
                       test::DnsRecord::address("mx.customer.example", "127.0.0.9")});
    test::SmtpServerScript script;
    script.recipient_replies["carol@dest.test"] = "550 5.1.1 No such user";
    script.recipient_replies["dave@dest.test"] = "451 4.3.0 Try again later";
    test::ScriptableSmtpServer mx(script, "127.0.0.3", mx_port);
    test::ScriptableSmtpServer sender_mx(test::SmtpServerScript{}, "127.0.0.9", mx_port);
    ServerOptions options;
    options.roles = "smtp,delivery";
    options.extra_toml =
        metrics_section(metrics_port_) + "[delivery]\nmx_port = " + std::to_string(mx_port) +
        "\nallow_destination_networks = [\"127.0.0.0/8\"]\ndns_forwarders = [\"" + dns.forwarder() +
        "\"]\nipv6 = false\npoll_seconds = 1\nfirst_retry_seconds = 3600\n";
    start(options);

    const auto sent = swaks({"--server", "127.0.0.1:" + std::to_string(server_->port("submission")),
                             "--tls", "--auth", "PLAIN", "--auth-user", k_username,
                             "--auth-password", k_password, "--from", "alice@customer.example",
                             "--to", "bob@dest.test,carol@dest.test,dave@dest.test"});
    ASSERT_EQ(sent.exit_code, 0) << sent.output;

    // bob delivered, carol bounced, dave deferred; then the bounce reaches alice.
    ASSERT_TRUE(eventually([&] { return sender_mx.transactions().size() == 1; }, 60s));
    HttpAnswer scrape;
    const auto delivered = "smarthost_recipients_delivered_total{account=\"customer\"}";
    ASSERT_TRUE(eventually(
        [&] {
            scrape = http_get(metrics_port_, "/metrics");
            return series_value(scrape.body, delivered) == 2;
        },
        30s))
        << scrape.body;
    const auto& text = scrape.body;
    EXPECT_EQ(series_value(text, "smarthost_recipients_bounced_total{account=\"customer\"}"), 1);
    EXPECT_EQ(series_value(text, "smarthost_recipients_deferred_total"), 1);
    EXPECT_EQ(series_value(text, "smarthost_delivery_failures_total{category=\"bad_mailbox\"}"), 1);
    EXPECT_EQ(series_value(text, "smarthost_delivery_failures_total{category=\"other\"}"), 1);
    EXPECT_EQ(series_value(text, "smarthost_delivery_latency_seconds_count"), 2);
    EXPECT_GE(series_value(text, "smarthost_delivery_duration_seconds_count"), 2);
    EXPECT_GE(series_value(text, "smarthost_dns_lookups_total{result=\"ok\",type=\"MX\"}"), 2);
    EXPECT_GE(series_value(text, "smarthost_dns_lookups_total{result=\"ok\",type=\"A\"}"), 2);
    EXPECT_EQ(series_value(text, "smarthost_queue_recipients{state=\"deferred\"}"), 1);
    EXPECT_EQ(text.find("dest.test"), std::string::npos) << "a domain became a label";
}

// Issue 11 point 15: the delivery role purges refusals and suspicious logins past the
// configured retention, and counts what it deleted per table. Rows are dated relative to
// the database's clock, days away from the one-day retention, so the two clocks of one
// machine cannot disagree enough to matter.
TEST_F(MetricsEndToEnd, TheDeliveryRolePurgesOldRefusalsAndSuspiciousLoginsAndCountsThem) {
    test::Dnsmasq dns({});  // the delivery role's resolver stays on loopback
    ServerOptions options;
    options.roles = "smtp,delivery";
    options.extra_toml = metrics_section(metrics_port_) + "[delivery]\ndns_forwarders = [\"" +
                         dns.forwarder() +
                         "\"]\npurge_interval_seconds = 1\nrejection_retention_days = 1\n"
                         "suspicious_login_retention_days = 2\n";
    start(options);
    const auto account = *db_.exec("SELECT id FROM accounts").at(0).at(0);
    db_.exec(
        "INSERT INTO rejections (account_id, reason, created_at) VALUES "
        "($1, 'dnsbl', now() - interval '5 days'), ($1, 'dnsbl', now() - interval '4 days'), "
        "($1, 'sender_domain', now())",
        account);
    db_.exec(
        "INSERT INTO auth_suspicious_logins (account_id, username, client_ip, zones, "
        "logged_in_at) VALUES ($1, 'alice', '192.0.2.7', '{pbl.example}', "
        "now() - interval '5 days'), ($1, 'alice', '192.0.2.7', '{pbl.example}', "
        "now() - interval '1 day')",
        account);

    HttpAnswer scrape;
    ASSERT_TRUE(eventually(
        [&] {
            scrape = http_get(metrics_port_, "/metrics");
            return series_value(scrape.body,
                                "smarthost_purged_rows_total{table=\"auth_suspicious_logins\"}") ==
                       1 &&
                   series_value(scrape.body, "smarthost_purged_rows_total{table=\"rejections\"}") ==
                       2;
        },
        30s))
        << scrape.body;
    EXPECT_EQ(series_value(scrape.body, "smarthost_purged_rows_total{table=\"events\"}"), 0);
    EXPECT_EQ(*db_.exec("SELECT string_agg(reason, ',') FROM rejections").at(0).at(0),
              "sender_domain");
    EXPECT_EQ(*db_.exec("SELECT count(*) FROM auth_suspicious_logins").at(0).at(0), "1");
}

// A real Prometheus (Debian's prometheus package) on loopback scrapes the metrics
// listener; its query API must see exactly the messages sent.
TEST_F(MetricsEndToEnd, PrometheusScrapesTheAcceptedMessageCount) {
    ServerOptions options;
    options.extra_toml = metrics_section(metrics_port_);
    start(options);

    TempDir prometheus_dir;
    const auto prometheus_port = free_port();
    const auto config = prometheus_dir.path() / "prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          << "scrape_configs:\n  - job_name: smarthost\n    static_configs:\n"
                          << "      - targets: ['127.0.0.1:" << metrics_port_ << "']\n";
    Process prometheus({"prometheus", "--config.file=" + config.string(),
                        "--storage.tsdb.path=" + (prometheus_dir.path() / "data").string(),
                        "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                       prometheus_dir.path() / "prometheus.log");
    ASSERT_TRUE(wait_for_port("Prometheus", "127.0.0.1", prometheus_port, 60s));

    constexpr int k_messages = 5;
    for (int i = 0; i < k_messages; ++i) {
        const auto sent = send_one(server_->port("submission"));
        ASSERT_EQ(sent.exit_code, 0) << sent.output;
    }

    std::string last;
    const bool counted = eventually(
        [&] {
            const auto result = run_command(
                {"curl", "-sS", "--max-time", "5", "-G",
                 "http://127.0.0.1:" + std::to_string(prometheus_port) + "/api/v1/query",
                 "--data-urlencode",
                 "query=sum(smarthost_messages_accepted_total{job=\"smarthost\"})"});
            last = result.output;
            boost::system::error_code ec;
            const auto answer = boost::json::parse(result.output, ec);
            if (ec || !answer.is_object()) return false;
            const auto* data = answer.as_object().if_contains("data");
            if (!data) return false;
            const auto& series = data->at("result").as_array();
            return series.size() == 1 && series[0].at("value").as_array()[1] ==
                                             boost::json::value(std::to_string(k_messages));
        },
        60s);
    EXPECT_TRUE(counted) << "last answer: " << last;
}

}  // namespace
}  // namespace smarthost::e2e
