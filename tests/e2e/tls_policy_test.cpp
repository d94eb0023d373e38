// Transport security per destination domain, end to end (docs/delivery.md "Per-domain TLS
// policy" and "MTA-STS"): the real binary with the smtp, delivery and admin roles, dnsmasq
// with fixture zones, receiving servers on 127.0.0.x (our scriptable server, STARTTLS with
// a certificate for its name) and the operator's policies set through the admin API.
// Assertions are on the recipient rows and the transactions the receivers saw.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

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

class DomainTls : public ::testing::Test {
  protected:
    DomainTls() : mx_port_(free_port()), admin_port_(free_port()) {}

    void TearDown() override {
        if (HasFailure() && relay_) std::cerr << "---- smarthost log ----\n" << relay_->log();
    }

    // The sender's domain (for bounces) has an MX, and the ownership proof delivery re-checks.
    void start_dns(std::vector<DnsRecord> records) {
        records.push_back(DnsRecord::mx("sender.test", 10, "mx.sender.test"));
        records.push_back(DnsRecord::address("mx.sender.test", "127.0.0.9"));
        records.push_back(DnsRecord::txt("_smarthost.sender.test",
                                         {"smarthost-verification=" + std::string(k_token)}));
        dns_ = std::make_unique<test::Dnsmasq>(std::move(records));
    }

    // Trusts the certificates in `ca_pem` (tls_ca_file; none: the system's CAs, which do not
    // trust the test servers); `delivery_extra` are more keys of [delivery].
    void start_relay(const std::string& ca_pem, const std::string& delivery_extra = {}) {
        const auto ca_file = dir_.path() / "ca.pem";
        std::ofstream(ca_file) << ca_pem;
        const auto account = db_.create_account("customer");
        db_.add_sender_domain(account, "sender.test", "verified", false, k_token);
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", account,
                 "127.0.0.0/8");
        ServerOptions options;
        options.listeners = {{"submission", "none"}};
        options.roles = "smtp,delivery,admin";
        options.extra_toml =
            "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port_) +
            "\"\n[delivery]\nmx_port = " + std::to_string(mx_port_) +
            "\nallow_destination_networks = [\"127.0.0.0/8\"]\ndns_forwarders = [\"" +
            dns_->forwarder() + "\"]\ndns_timeout_ms = 3000\nipv6 = false\npoll_seconds = 1\n" +
            "first_retry_seconds = 1\nmax_retry_seconds = 2\nretry_jitter = 0\n" +
            (ca_pem.empty() ? std::string() : "tls_ca_file = \"" + ca_file.string() + "\"\n") +
            delivery_extra + "\n[delivery.timeouts]\nconnect_seconds = 3\ngreeting_seconds = 10\n" +
            "[policy]\naccount_cache_ms = 0\n";
        relay_ = std::make_unique<SmarthostServer>(db_.url(), options);
        ASSERT_TRUE(wait_for_port("the admin listener", "127.0.0.1", admin_port_, 10s));
        const auto token = relay_->subcommand({"token", "create", "--name", "ops"});
        ASSERT_EQ(token.exit_code, 0) << token.output;
        token_ = token.output.substr(0, token.output.find('\n'));
    }

    void set_policy(const std::string& domain, const std::string& policy) {
        const auto reply = http("PUT", admin_port_, "/api/v1/tls-policies/" + domain, token_,
                                R"({"policy":")" + policy + R"("})");
        ASSERT_EQ(reply.status, 200) << reply.text;
    }

    void submit(const std::string& recipient) {
        RawSmtpClient client(relay_->port("submission"));
        EXPECT_EQ(reply_code(client.reply()), 220);
        EXPECT_EQ(reply_code(client.command("EHLO client.test")), 250);
        EXPECT_EQ(reply_code(client.command(std::string("MAIL FROM:<") + k_sender + ">")), 250);
        EXPECT_EQ(reply_code(client.command("RCPT TO:<" + recipient + ">")), 250);
        EXPECT_EQ(reply_code(client.command("DATA")), 354);
        std::string content = std::string("From: ") + k_sender + "\r\nTo: " + recipient;
        content += "\r\nSubject: transport security\r\n\r\nHello.\r\n.";
        EXPECT_EQ(reply_code(client.command(content)), 250);
        client.command("QUIT");
    }

    std::string column_of(const std::string& column, const std::string& address) {
        const auto rows =
            db_.exec("SELECT coalesce(" + column + "::text, '') FROM recipients WHERE address = $1",
                     address);
        return rows.empty() ? "" : *rows[0][0];
    }

    testing::AssertionResult reaches(const std::string& address, const std::string& state) {
        return wait_until(
            address + " in state " + state, [&] { return column_of("state", address) == state; },
            30s);
    }

    static SmtpServerScript mx_script(const std::string& hostname, bool starttls) {
        SmtpServerScript script;
        script.hostname = hostname;
        script.starttls = starttls;
        return script;
    }

    test::TestDatabase db_;
    std::uint16_t mx_port_;
    std::uint16_t admin_port_;
    TempDir dir_;
    std::unique_ptr<test::Dnsmasq> dns_;
    std::unique_ptr<SmarthostServer> relay_;
    std::string token_;
};

// `require`: STARTTLS or nothing, whatever the certificate; never clear text.
TEST_F(DomainTls, RequireDefersAtAServerWithoutStarttlsAndTakesAnyCertificate) {
    start_dns({DnsRecord::mx("plain.test", 10, "mx.plain.test"),
               DnsRecord::address("mx.plain.test", "127.0.0.3"),
               DnsRecord::mx("selfsigned.test", 10, "mx.selfsigned.test"),
               DnsRecord::address("mx.selfsigned.test", "127.0.0.4")});
    ScriptableSmtpServer plain(mx_script("mx.plain.test", false), "127.0.0.3", mx_port_);
    ScriptableSmtpServer selfsigned(mx_script("mx.selfsigned.test", true), "127.0.0.4", mx_port_);
    start_relay("");  // trusts nothing: the self-signed certificate is not verified
    set_policy("plain.test", "require");
    set_policy("selfsigned.test", "require");
    submit("bob@plain.test");
    submit("carol@selfsigned.test");
    ASSERT_TRUE(reaches("carol@selfsigned.test", "delivered"));
    ASSERT_EQ(selfsigned.transactions().size(), 1u);
    EXPECT_TRUE(selfsigned.transactions()[0].tls);
    ASSERT_TRUE(reaches("bob@plain.test", "deferred"));
    EXPECT_NE(column_of("last_reply", "bob@plain.test").find("4.7.4"), std::string::npos)
        << column_of("last_reply", "bob@plain.test");
    EXPECT_TRUE(plain.transactions().empty());
}

// `verify` through the API, for a domain [delivery] would send to opportunistically.
TEST_F(DomainTls, VerifyThroughTheApiRefusesAnUntrustedCertificate) {
    start_dns({DnsRecord::mx("dest.test", 10, "mx.dest.test"),
               DnsRecord::address("mx.dest.test", "127.0.0.3")});
    ScriptableSmtpServer mx(mx_script("mx.dest.test", true), "127.0.0.3", mx_port_);
    start_relay("");
    set_policy("dest.test", "verify");
    submit("bob@dest.test");
    ASSERT_TRUE(reaches("bob@dest.test", "deferred"));
    EXPECT_NE(column_of("last_reply", "bob@dest.test").find("4.7.5"), std::string::npos)
        << column_of("last_reply", "bob@dest.test");
    EXPECT_TRUE(mx.transactions().empty());
    // Removing the policy lets the next attempt deliver as [delivery] says (opportunistic).
    ASSERT_EQ(http("DELETE", admin_port_, "/api/v1/tls-policies/dest.test", token_).status, 204);
    ASSERT_TRUE(reaches("bob@dest.test", "delivered"));
    ASSERT_EQ(mx.transactions().size(), 1u);
    EXPECT_TRUE(mx.transactions()[0].tls);
}

// `opportunistic` through the API overrides verify_domains for that domain.
TEST_F(DomainTls, OpportunisticThroughTheApiOverridesVerifyDomains) {
    start_dns({DnsRecord::mx("dest.test", 10, "mx.dest.test"),
               DnsRecord::address("mx.dest.test", "127.0.0.3")});
    ScriptableSmtpServer mx(mx_script("mx.dest.test", true), "127.0.0.3", mx_port_);
    start_relay("", "verify_domains = [\"dest.test\"]\n");
    set_policy("dest.test", "opportunistic");
    submit("bob@dest.test");
    ASSERT_TRUE(reaches("bob@dest.test", "delivered"));
    ASSERT_EQ(mx.transactions().size(), 1u);
}

// ---- MTA-STS (RFC 8461) ---------------------------------------------------------------

constexpr const char* k_policy_address = "127.0.0.20";

class MtaSts : public DomainTls {
  protected:
    MtaSts() : policy_port_(free_port()) {}

    // `domain` publishes `_mta-sts` with id `id`, its policy host mta-sts.DOMAIN serves
    // `policy` with a certificate for that name, and its MX `mx_name` is on `mx_address`.
    void publish(const std::string& domain, const std::string& policy, const std::string& mx_name,
                 const std::string& mx_address, const std::string& id = "20261207") {
        records_.push_back(DnsRecord::mx(domain, 10, mx_name));
        records_.push_back(DnsRecord::address(mx_name, mx_address));
        records_.push_back(DnsRecord::txt("_mta-sts." + domain, {"v=STSv1; id=" + id + ";"}));
        records_.push_back(DnsRecord::address("mta-sts." + domain, k_policy_address));
        const auto host_dir = policies_.path() / ("mta-sts." + domain);
        std::filesystem::create_directories(host_dir);
        const auto certificate = make_certificate(host_dir, "mta-sts." + domain);
        std::ofstream(host_dir / "mta-sts.txt") << policy;
        std::ifstream pem(certificate.certificate);
        trusted_ << pem.rdbuf();
    }

    // The policy server, DNS and the relay, trusting the policy hosts and `mx_servers`.
    void start(const std::vector<const ScriptableSmtpServer*>& mx_servers) {
        policy_server_ = std::make_unique<Process>(
            std::vector<std::string>{
                "python3", std::string(SMARTHOST_E2E_SOURCE_DIR) + "/tests/e2e/mta_sts_server.py",
                k_policy_address, std::to_string(policy_port_), policies_.path().string()},
            policies_.path() / "server.log");
        ASSERT_TRUE(
            wait_for_port("the MTA-STS policy server", k_policy_address, policy_port_, 10s));
        for (const auto* server : mx_servers)
            trusted_ << server->certificate_pem();
        start_dns(records_);
        start_relay(trusted_.str(), "mta_sts_port = " + std::to_string(policy_port_) + "\n");
    }

    static std::string policy(const std::string& mode, const std::string& mx) {
        return "version: STSv1\r\nmode: " + mode + "\r\nmx: " + mx + "\r\nmax_age: 86400\r\n";
    }

    std::uint16_t policy_port_;
    TempDir policies_;
    std::vector<DnsRecord> records_;
    std::ostringstream trusted_;
    std::unique_ptr<Process> policy_server_;
};

TEST_F(MtaSts, EnforceDeliversOnlyToListedMxHostsWithAValidCertificateForTheirName) {
    publish("match.test", policy("enforce", "*.match.test"), "mx.match.test", "127.0.0.3");
    publish("mismatch.test", policy("enforce", "mx.elsewhere.test"), "mx.mismatch.test",
            "127.0.0.4");
    publish("badcert.test", policy("enforce", "mx.badcert.test"), "mx.badcert.test", "127.0.0.5");
    ScriptableSmtpServer match(mx_script("mx.match.test", true), "127.0.0.3", mx_port_);
    ScriptableSmtpServer mismatch(mx_script("mx.mismatch.test", true), "127.0.0.4", mx_port_);
    // A trusted certificate, but for another name than the MX host's.
    ScriptableSmtpServer badcert(mx_script("other.test", true), "127.0.0.5", mx_port_);
    start({&match, &mismatch, &badcert});
    submit("bob@match.test");
    submit("carol@mismatch.test");
    submit("dave@badcert.test");

    ASSERT_TRUE(reaches("bob@match.test", "delivered"));
    ASSERT_EQ(match.transactions().size(), 1u);
    EXPECT_TRUE(match.transactions()[0].tls);
    const auto stored = db_.exec(
        "SELECT policy_id, mode, array_to_string(mx, ','), max_age_seconds, "
        "(expires_at - fetched_at)::text FROM mta_sts_policies WHERE domain = 'match.test'");
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(*stored[0][0], "20261207");
    EXPECT_EQ(*stored[0][1], "enforce");
    EXPECT_EQ(*stored[0][2], "*.match.test");
    EXPECT_EQ(*stored[0][3], "86400");
    EXPECT_EQ(*stored[0][4], "1 day");

    ASSERT_TRUE(reaches("carol@mismatch.test", "deferred"));
    EXPECT_EQ(column_of("last_reply", "carol@mismatch.test"),
              "4.7.5 MTA-STS policy of mismatch.test does not list MX host mx.mismatch.test");
    EXPECT_EQ(mismatch.connections(), 0u);

    ASSERT_TRUE(reaches("dave@badcert.test", "deferred"));
    EXPECT_NE(column_of("last_reply", "dave@badcert.test").find("4.7.5"), std::string::npos)
        << column_of("last_reply", "dave@badcert.test");
    EXPECT_TRUE(badcert.transactions().empty());
}

TEST_F(MtaSts, TestingModeDeliversToAnUnlistedMxAndTheOperatorPolicyOverridesEnforce) {
    publish("testing.test", policy("testing", "mx.elsewhere.test"), "mx.testing.test", "127.0.0.3");
    publish("override.test", policy("enforce", "mx.elsewhere.test"), "mx.override.test",
            "127.0.0.4");
    ScriptableSmtpServer testing(mx_script("mx.testing.test", true), "127.0.0.3", mx_port_);
    ScriptableSmtpServer override_mx(mx_script("mx.override.test", true), "127.0.0.4", mx_port_);
    start({&testing, &override_mx});
    set_policy("override.test", "opportunistic");
    submit("bob@testing.test");
    submit("carol@override.test");
    ASSERT_TRUE(reaches("bob@testing.test", "delivered"));
    EXPECT_EQ(testing.transactions().size(), 1u);
    ASSERT_TRUE(reaches("carol@override.test", "delivered"));
    EXPECT_EQ(override_mx.transactions().size(), 1u);
    // Under the operator's policy MTA-STS is not even looked up.
    EXPECT_TRUE(db_.exec("SELECT 1 FROM mta_sts_policies WHERE domain = 'override.test'").empty());
}

}  // namespace
}  // namespace smarthost::e2e
