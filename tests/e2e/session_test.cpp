// End to end: connection limits, timeouts, STARTTLS hygiene and certificate reload.

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/e2e/harness.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;

ServerOptions one_listener(std::string tls, std::string extra) {
    ServerOptions options;
    options.listeners = {{"submission", std::move(tls), true, std::move(extra)}};
    return options;
}

TEST(SessionLimits, ConnectionBeyondThePerAddressLimitGets421) {
    test::TestDatabase db;
    SmarthostServer server(db.url(), one_listener("starttls", "max_connections_per_ip = 2"));
    RawSmtpClient first(server.port("submission"), "127.0.0.5");
    RawSmtpClient second(server.port("submission"), "127.0.0.5");
    ASSERT_EQ(reply_code(first.reply()), 220);
    ASSERT_EQ(reply_code(second.reply()), 220);
    RawSmtpClient third(server.port("submission"), "127.0.0.5");
    const auto refused = third.reply();
    EXPECT_EQ(refused.rfind("421 4.7.0", 0), 0u) << refused;
    EXPECT_TRUE(third.closed());
    // Another address still gets in.
    RawSmtpClient other(server.port("submission"), "127.0.0.6");
    EXPECT_EQ(reply_code(other.reply()), 220);
}

TEST(SessionLimits, IdleClientGets421AfterTheCommandTimeout) {
    test::TestDatabase db;
    SmarthostServer server(db.url(), one_listener("starttls", "command_timeout_seconds = 1"));
    RawSmtpClient client(server.port("submission"));
    ASSERT_EQ(reply_code(client.reply()), 220);
    const auto reply = client.reply(10s);
    EXPECT_EQ(reply.rfind("421 4.4.2", 0), 0u) << reply;
    EXPECT_TRUE(client.closed());
}

TEST(SessionLimits, ClientSilentInDataGets421AfterTheDataTimeout) {
    test::TestDatabase db;
    const auto account = db.create_account("customer");
    db.add_sender_domain(account, "customer.example");
    db.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, '127.0.0.2/32')",
            account);
    SmarthostServer server(db.url(), one_listener("starttls", "data_timeout_seconds = 1"));
    RawSmtpClient client(server.port("submission"), "127.0.0.2");
    client.reply();
    client.command("EHLO app.customer.example");
    ASSERT_EQ(reply_code(client.command("MAIL FROM:<app@customer.example>")), 250);
    ASSERT_EQ(reply_code(client.command("RCPT TO:<a@example.org>")), 250);
    ASSERT_EQ(reply_code(client.command("DATA")), 354);
    client.send("Subject: half a message\r\n");
    const auto reply = client.reply(10s);
    EXPECT_EQ(reply.rfind("421 4.4.2", 0), 0u) << reply;
    EXPECT_EQ(*db.exec("SELECT count(*) FROM messages").at(0).at(0), "0");
}

// CVE-2011-0411: commands pipelined behind STARTTLS were sent in clear text and must
// not be executed inside the TLS session.
TEST(StartTls, CommandsPipelinedBehindStartTlsAreDiscarded) {
    test::TestDatabase db;
    SmarthostServer server(db.url(), one_listener("starttls", ""));
    RawSmtpClient client(server.port("submission"));
    client.reply();
    client.command("EHLO client.example");
    client.send("STARTTLS\r\nNOOP\r\n");
    ASSERT_EQ(client.reply().rfind("220 2.0.0", 0), 0u);
    ASSERT_TRUE(client.start_tls());
    // The first reply inside TLS answers this EHLO, not the injected NOOP.
    const auto ehlo = client.command("EHLO client.example");
    EXPECT_EQ(ehlo.rfind("250-relay.e2e.test", 0), 0u) << ehlo;
    EXPECT_NE(ehlo.find("AUTH PLAIN LOGIN"), std::string::npos) << ehlo;
    EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos) << ehlo;
    // And the session was reset: no transaction without a new EHLO was possible, but
    // after it MAIL works.
    EXPECT_EQ(reply_code(client.command("MAIL FROM:<a@b.example>")), 250);
}

TEST(StartTls, MailBeforeTheNewEhloIsRefused) {
    test::TestDatabase db;
    SmarthostServer server(db.url(), one_listener("starttls", ""));
    RawSmtpClient client(server.port("submission"));
    client.reply();
    client.command("EHLO client.example");
    ASSERT_EQ(reply_code(client.command("STARTTLS")), 220);
    ASSERT_TRUE(client.start_tls());
    const auto reply = client.command("MAIL FROM:<a@b.example>");
    EXPECT_EQ(reply.rfind("503 5.5.1", 0), 0u) << reply;
}

TEST(TlsReload, SighupServesTheNewCertificateToNewConnections) {
    test::TestDatabase db;
    TempDir dir;
    ServerOptions options = one_listener("implicit", "");
    options.tls = make_certificate(dir.path(), "first.relay.test");
    SmarthostServer server(db.url(), options);
    const auto port = server.port("submission");
    EXPECT_NE(served_subject(port).find("first.relay.test"), std::string::npos);

    TempDir next;
    const auto second = make_certificate(next.path(), "second.relay.test");
    std::filesystem::copy_file(second.certificate, options.tls.certificate,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(second.private_key, options.tls.private_key,
                               std::filesystem::copy_options::overwrite_existing);
    server.process().signal(SIGHUP);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string subject;
    while (std::chrono::steady_clock::now() < deadline) {
        subject = served_subject(port);
        if (subject.find("second.relay.test") != std::string::npos) break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_NE(subject.find("second.relay.test"), std::string::npos) << subject;
}

}  // namespace
}  // namespace smarthost::e2e
