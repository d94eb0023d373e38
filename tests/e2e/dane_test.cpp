// DANE end to end (RFC 7672, docs/delivery.md "DANE"): the real binary delivers through a
// validating unbound in front of nsd, which serves a zone signed at test time (dane.test)
// and unsigned ones (plain.test, sender.test). Receiving servers with STARTTLS and their
// own self-signed certificates on 127.0.0.x; the TLSA records name those certificates'
// keys, or a key that is not theirs. Assertions: bytes and TLS at the receiver, the
// recipient's state and last reply, the events with their category.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "tests/e2e/harness.hpp"
#include "tests/e2e/signed_dns.hpp"
#include "tests/support/scriptable_smtp_server.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/tlsa_data.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using test::ScriptableSmtpServer;
using test::SmtpServerScript;

constexpr const char* k_sender = "alice@sender.test";
constexpr const char* k_token = "0123456789abcdef0123456789abcdef";

// The data of a "3 1 1" TLSA record for the certificate a test server presents.
std::string spki_sha256_hex(const std::string& certificate_pem) {
    return test::to_hex(test::sha256(test::tlsa_selected_der(certificate_pem, 1)));
}

SmtpServerScript tls_script(const std::string& hostname, bool starttls = true) {
    SmtpServerScript script;
    script.hostname = hostname;
    script.starttls = starttls;
    return script;
}

class DaneDelivery : public ::testing::Test {
  protected:
    DaneDelivery() : mx_port_(free_port()) {}

    void TearDown() override {
        if (!HasFailure()) return;
        if (relay_) std::cerr << "---- smarthost log ----\n" << relay_->log() << '\n';
        if (dns_) std::cerr << dns_->log() << '\n';
    }

    // The TLSA name of an MX host for the port the relay connects to.
    std::string tlsa(const std::string& host, const std::string& data) const {
        return "_" + std::to_string(mx_port_) + "._tcp." + host + ". IN TLSA " + data;
    }

    // dane.test is signed; plain.test and sender.test (bounces, the ownership proof) not.
    void start(std::vector<std::string> signed_records, std::vector<std::string> plain_records,
               const std::string& delivery_extra = {}) {
        TestZone secure{"dane.test", std::move(signed_records), true};
        TestZone plain{"plain.test", std::move(plain_records), false};
        TestZone sender{"sender.test",
                        {"sender.test. IN MX 10 mx.sender.test.", "mx.sender.test. IN A 127.0.0.9",
                         "_smarthost.sender.test. IN TXT \"smarthost-verification=" +
                             std::string(k_token) + "\""},
                        false};
        dns_ = std::make_unique<SignedDns>(std::vector<TestZone>{secure, plain, sender});
        ServerOptions options;
        options.listeners = {{"submission", "none"}};
        options.roles = "smtp,delivery";
        options.extra_toml =
            "[delivery]\nmx_port = " + std::to_string(mx_port_) +
            "\nallow_destination_networks = [\"127.0.0.0/8\"]\ndns_forwarders = [\"" +
            dns_->forwarder() + "\"]\ndnssec_trust_anchor_file = \"" +
            dns_->trust_anchor_file().string() +
            "\"\ndns_timeout_ms = 5000\nipv6 = false\npoll_seconds = 1\n"
            "first_retry_seconds = 1\nmax_retry_seconds = 2\nretry_jitter = 0\n" +
            delivery_extra +
            "\n[delivery.timeouts]\nconnect_seconds = 3\ngreeting_seconds = 10\n"
            "[policy]\naccount_cache_ms = 0\n";
        const auto account = db_.create_account("customer");
        db_.add_sender_domain(account, "sender.test", "verified", false, k_token);
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", account,
                 "127.0.0.0/8");
        relay_ = std::make_unique<SmarthostServer>(db_.url(), options);
    }

    void submit(const std::string& recipient, const std::string& subject) {
        RawSmtpClient client(relay_->port("submission"));
        EXPECT_EQ(reply_code(client.reply()), 220);
        EXPECT_EQ(reply_code(client.command("EHLO client.test")), 250);
        EXPECT_EQ(reply_code(client.command(std::string("MAIL FROM:<") + k_sender + ">")), 250);
        EXPECT_EQ(reply_code(client.command("RCPT TO:<" + recipient + ">")), 250);
        EXPECT_EQ(reply_code(client.command("DATA")), 354);
        std::string content = std::string("From: ") + k_sender + "\r\nTo: " + recipient;
        content += "\r\nSubject: " + subject + "\r\n\r\nHello " + subject + ".\r\n.";
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

    // The deferral events of a recipient: reply and category.
    std::vector<std::pair<std::string, std::string>> deferrals(const std::string& address) {
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& row :
             db_.exec("SELECT coalesce(e.reply, ''), coalesce(e.category, '') FROM events e "
                      "JOIN recipients r ON r.id = e.recipient_id "
                      "WHERE r.address = $1 AND e.kind = 'deferred' ORDER BY e.id",
                      address))
            out.emplace_back(*row[0], *row[1]);
        return out;
    }

    test::TestDatabase db_;
    std::uint16_t mx_port_;
    std::unique_ptr<SignedDns> dns_;
    std::unique_ptr<SmarthostServer> relay_;
};

TEST_F(DaneDelivery, MatchingTlsaDeliversOverTlsAndAMismatchDefersWithTheReason) {
    ScriptableSmtpServer good(tls_script("mx.dane.test"), "127.0.0.3", mx_port_);
    ScriptableSmtpServer forged(tls_script("mx-bad.dane.test"), "127.0.0.4", mx_port_);
    // mx-bad publishes the key of `good`: the certificate it serves does not match.
    const std::string good_key = spki_sha256_hex(good.certificate_pem());
    start({"dane.test. IN MX 10 mx.dane.test.", "mx.dane.test. IN A 127.0.0.3",
           tlsa("mx.dane.test", "3 1 1 " + good_key), "bad.dane.test. IN MX 10 mx-bad.dane.test.",
           "mx-bad.dane.test. IN A 127.0.0.4", tlsa("mx-bad.dane.test", "3 1 1 " + good_key)},
          {});
    submit("bob@dane.test", "verified");
    submit("eve@bad.dane.test", "mismatch");

    ASSERT_TRUE(reaches("bob@dane.test", "delivered"));
    const auto received = good.transactions();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0].tls);
    EXPECT_NE(received[0].body.find("Hello verified."), std::string::npos) << received[0].body;

    ASSERT_TRUE(reaches("eve@bad.dane.test", "deferred"));
    EXPECT_GE(forged.connections(), 1u);  // it was tried, and refused after the handshake
    EXPECT_TRUE(forged.transactions().empty());
    const std::string reply = column_of("last_reply", "eve@bad.dane.test");
    EXPECT_NE(reply.find("4.7.5"), std::string::npos) << reply;
    EXPECT_NE(reply.find("DANE"), std::string::npos) << reply;
    const auto events = deferrals("eve@bad.dane.test");
    ASSERT_FALSE(events.empty());
    EXPECT_NE(events[0].first.find("DANE"), std::string::npos) << events[0].first;
    EXPECT_EQ(events[0].second, "tls");
    // No fallback to clear text however often it is retried.
    EXPECT_TRUE(forged.transactions().empty());
}

TEST_F(DaneDelivery, SecureMxWithoutStarttlsIsDeferredNeverSentInTheClear) {
    ScriptableSmtpServer plain_text(tls_script("mx.dane.test", false), "127.0.0.3", mx_port_);
    ScriptableSmtpServer other(tls_script("other"), "127.0.0.8", mx_port_);
    start({"dane.test. IN MX 10 mx.dane.test.", "mx.dane.test. IN A 127.0.0.3",
           tlsa("mx.dane.test", "3 1 1 " + spki_sha256_hex(other.certificate_pem()))},
          {});
    submit("bob@dane.test", "no-starttls");
    ASSERT_TRUE(reaches("bob@dane.test", "deferred"));
    EXPECT_GE(plain_text.connections(), 1u);
    EXPECT_TRUE(plain_text.transactions().empty());
    const std::string reply = column_of("last_reply", "bob@dane.test");
    EXPECT_NE(reply.find("4.7.5"), std::string::npos) << reply;
    EXPECT_NE(reply.find("DANE"), std::string::npos) << reply;
    EXPECT_NE(reply.find("STARTTLS"), std::string::npos) << reply;
}

TEST_F(DaneDelivery, InsecureZoneIsDeliveredOpportunisticallyWhateverItsTlsaSays) {
    ScriptableSmtpServer mx(tls_script("mx.plain.test"), "127.0.0.6", mx_port_);
    // A TLSA record that matches nothing, in an unsigned zone: not trusted, not used.
    start({}, {"plain.test. IN MX 10 mx.plain.test.", "mx.plain.test. IN A 127.0.0.6",
               tlsa("mx.plain.test", "3 1 1 " + std::string(64, '0'))});
    submit("carol@plain.test", "opportunistic");
    ASSERT_TRUE(reaches("carol@plain.test", "delivered"));
    const auto received = mx.transactions();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0].tls);  // opportunistic TLS, certificate unchecked
    EXPECT_NE(received[0].body.find("Hello opportunistic."), std::string::npos);
}

TEST_F(DaneDelivery, DaneOffLeavesSignedZonesToTheOrdinaryPolicy) {
    ScriptableSmtpServer plain_text(tls_script("mx.dane.test", false), "127.0.0.3", mx_port_);
    start({"dane.test. IN MX 10 mx.dane.test.", "mx.dane.test. IN A 127.0.0.3",
           tlsa("mx.dane.test", "3 1 1 " + std::string(64, '0'))},
          {}, "dane = false\n");
    submit("bob@dane.test", "dane-off");
    ASSERT_TRUE(reaches("bob@dane.test", "delivered"));
    ASSERT_EQ(plain_text.transactions().size(), 1u);
    EXPECT_FALSE(plain_text.transactions()[0].tls);
}

}  // namespace
}  // namespace smarthost::e2e
