// The outbound SMTP client over loopback sockets, against postfix's smtp-sink and our
// scriptable server.

#include "relay/delivery/smtp_client.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/run_awaitable.hpp"
#include "tests/support/scriptable_smtp_server.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/tlsa_data.hpp"
#include "tests/support/unreachable_server.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::ScriptableSmtpServer;
using test::SmtpServerScript;
using test::SmtpStep;

tcp::endpoint endpoint_of(const std::string& address, unsigned short port) {
    return {asio::ip::make_address(address), port};
}

unsigned short free_port() {
    asio::io_context io;
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    return acceptor.local_endpoint().port();
}

smtp::Envelope envelope_to(std::vector<std::string> addresses) {
    smtp::Envelope envelope;
    envelope.sender = "sender@example.org";
    for (auto& address : addresses)
        envelope.recipients.push_back({address, "example.com", "", ""});
    return envelope;
}

const std::string k_body =
    "From: sender@example.org\r\nTo: a@example.com\r\nSubject: test\r\n\r\n"
    "Hello.\r\n.leading dot\r\n.\r\n..two dots\r\nlast line without CRLF";

class SmtpClientTest : public ::testing::Test {
  protected:
    ClientSettings settings(TlsPolicy tls = TlsPolicy::opportunistic) {
        ClientSettings s;
        s.helo_name = "client.test";
        s.tls = tls;
        s.timeouts.connect = 2s;
        s.timeouts.greeting = 2s;
        s.timeouts.command = 2s;
        s.timeouts.tls_handshake = 2s;
        s.timeouts.mail = 2s;
        s.timeouts.rcpt = 2s;
        s.timeouts.data_init = 2s;
        s.timeouts.data_block = 2s;
        s.timeouts.data_end = 2s;
        return s;
    }

    template <class T>
    T run(asio::awaitable<T> task) {
        return test::run_awaitable(io_, std::move(task));
    }

    void run(asio::awaitable<void> task) {
        test::run_awaitable(io_, [](asio::awaitable<void> inner) -> asio::awaitable<bool> {
            co_await std::move(inner);
            co_return true;
        }(std::move(task)));
    }

    StepResult open(SmtpClientConnection& client, const ScriptableSmtpServer& server) {
        return run(client.open("mx.test", {endpoint_of(server.address(), server.port())}));
    }

    asio::io_context io_;
};

// ---- smtp-sink --------------------------------------------------------------------------

TEST_F(SmtpClientTest, DeliversToSmtpSinkWithPipelining) {
    test::SmtpSink sink;
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::none));
    auto opened = run(client.open("localhost", {endpoint_of("127.0.0.1", sink.port())}));
    ASSERT_TRUE(opened) << opened.failure->reply.summary();
    EXPECT_TRUE(client.capabilities().pipelining);
    auto envelope = envelope_to({"a@example.com", "b@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_TRUE(report.pipelined);
    ASSERT_EQ(report.recipients.size(), 2u);
    for (const auto& result : report.recipients)
        EXPECT_EQ(result.verdict, Verdict::delivered) << result.reply.summary();
    EXPECT_EQ(report.recipients[0].peer.ip, "127.0.0.1");
    run(client.quit());
    const auto dumps = sink.dumps();
    ASSERT_EQ(dumps.size(), 1u);
    // The dump holds the message as received, un-stuffed.
    EXPECT_NE(dumps[0].find("\n.leading dot\n"), std::string::npos) << dumps[0];
    EXPECT_NE(dumps[0].find("\n..two dots\n"), std::string::npos) << dumps[0];
    EXPECT_NE(dumps[0].find("last line without CRLF"), std::string::npos);
}

TEST_F(SmtpClientTest, DeliversToSmtpSinkOneCommandAtATimeWithoutPipelining) {
    test::SmtpSink sink("127.0.0.1", 0, {"-p"});
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::none));
    ASSERT_TRUE(run(client.open("localhost", {endpoint_of("127.0.0.1", sink.port())})));
    EXPECT_FALSE(client.capabilities().pipelining);
    auto envelope = envelope_to({"a@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_FALSE(report.pipelined);
    EXPECT_EQ(report.recipients[0].verdict, Verdict::delivered);
    run(client.quit());
}

// ---- the scriptable server --------------------------------------------------------------

TEST_F(SmtpClientTest, DeliveredByteForByteWithDotStuffingUndone) {
    ScriptableSmtpServer server(SmtpServerScript{}, "127.0.0.2");
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    ASSERT_EQ(report.recipients[0].verdict, Verdict::delivered);
    EXPECT_EQ(report.recipients[0].reply.code, 250);
    EXPECT_EQ(report.recipients[0].peer.ip, "127.0.0.2");
    EXPECT_EQ(report.recipients[0].peer.host, "mx.test");
    const auto received = server.transactions();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].body, k_body + "\r\n");
    EXPECT_EQ(received[0].helo, "client.test");
    EXPECT_EQ(received[0].mail_command, "MAIL FROM:<sender@example.org>");
}

TEST_F(SmtpClientTest, PipelinedGroupArrivesInOneRead) {
    ScriptableSmtpServer server(SmtpServerScript{});
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com", "b@example.com", "c@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_TRUE(report.pipelined);
    const auto received = server.transactions();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].reads, 1u);
    EXPECT_EQ(received[0].recipients.size(), 3u);
}

TEST_F(SmtpClientTest, WithoutPipeliningEachCommandWaitsForItsReply) {
    SmtpServerScript script;
    script.pipelining = false;
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com", "b@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_FALSE(report.pipelined);
    const auto received = server.transactions();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].reads, 4u);  // MAIL, RCPT, RCPT, DATA
    EXPECT_EQ(received[0].body, k_body + "\r\n");
}

TEST_F(SmtpClientTest, PerRecipientTemporaryAndPermanentFailures) {
    SmtpServerScript script;
    script.recipient_replies["later@example.com"] = "451 4.2.1 Mailbox busy";
    script.recipient_replies["never@example.com"] = "550 5.1.1 No such user";
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"ok@example.com", "later@example.com", "never@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    ASSERT_EQ(report.recipients.size(), 3u);
    EXPECT_EQ(report.recipients[0].verdict, Verdict::delivered);
    EXPECT_EQ(report.recipients[1].verdict, Verdict::temporary);
    EXPECT_EQ(report.recipients[1].reply.summary(), "451 4.2.1 Mailbox busy");
    EXPECT_EQ(report.recipients[2].verdict, Verdict::permanent);
    EXPECT_EQ(report.recipients[2].reply.enhanced, "5.1.1");
    EXPECT_EQ(report.recipients[2].stage, Stage::rcpt);
    ASSERT_EQ(server.transactions().size(), 1u);
    EXPECT_EQ(server.transactions()[0].recipients, (std::vector<std::string>{"ok@example.com"}));
}

TEST_F(SmtpClientTest, AllRecipientsRefusedPipelinedSendsNoBody) {
    SmtpServerScript script;
    script.recipient_replies["never@example.com"] = "550 5.1.1 No such user";
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"never@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_EQ(report.recipients[0].verdict, Verdict::permanent);
    EXPECT_TRUE(client.usable());
    EXPECT_TRUE(server.transactions().empty());
    EXPECT_TRUE(run(client.reset()));
}

TEST_F(SmtpClientTest, FinalDotRefusalFailsTheAcceptedRecipients) {
    SmtpServerScript script;
    script.final_reply = "554 5.7.1 Message rejected as spam";
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com", "b@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    for (const auto& result : report.recipients) {
        EXPECT_EQ(result.verdict, Verdict::permanent);
        EXPECT_EQ(result.stage, Stage::data_end);
        EXPECT_EQ(result.reply.enhanced, "5.7.1");
    }
}

TEST_F(SmtpClientTest, ConnectionDroppedMidDataIsTemporary) {
    SmtpServerScript script;
    script.drop_mid_data = true;
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com"});
    auto report = run(client.send_message(envelope, std::string(300 * 1024, 'x')));
    EXPECT_EQ(report.recipients[0].verdict, Verdict::temporary);
    EXPECT_EQ(report.recipients[0].reply.enhanced, "4.4.2");
    EXPECT_FALSE(report.recipients[0].remote);
    EXPECT_FALSE(client.usable());
}

TEST_F(SmtpClientTest, StalledServerTimesOutAtRcpt) {
    SmtpServerScript script;
    script.stall_at = SmtpStep::rcpt;
    ScriptableSmtpServer server(script);
    auto s = settings();
    s.timeouts.rcpt = 300ms;
    SmtpClientConnection client(io_.get_executor(), s);
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com"});
    const auto started = std::chrono::steady_clock::now();
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
    EXPECT_EQ(report.recipients[0].verdict, Verdict::temporary);
    EXPECT_EQ(report.recipients[0].stage, Stage::rcpt);
    EXPECT_NE(report.recipients[0].reply.summary().find("Timed out"), std::string::npos);
    EXPECT_FALSE(client.usable());
}

TEST_F(SmtpClientTest, StalledServerTimesOutAfterTheFinalDot) {
    SmtpServerScript script;
    script.stall_at = SmtpStep::data_end;
    script.pipelining = false;
    ScriptableSmtpServer server(script);
    auto s = settings();
    s.timeouts.data_end = 300ms;
    SmtpClientConnection client(io_.get_executor(), s);
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_EQ(report.recipients[0].verdict, Verdict::temporary);
    EXPECT_EQ(report.recipients[0].stage, Stage::data_end);
}

TEST_F(SmtpClientTest, SilentServerTimesOutWaitingForTheGreeting) {
    SmtpServerScript script;
    script.stall_at = SmtpStep::greeting;
    ScriptableSmtpServer server(script);
    auto s = settings();
    s.timeouts.greeting = 300ms;
    SmtpClientConnection client(io_.get_executor(), s);
    auto result = open(client, server);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.failure->stage, Stage::greeting);
    EXPECT_EQ(result.failure->verdict, Verdict::temporary);
}

TEST_F(SmtpClientTest, Greeting421IsATemporaryFailureWithTheReply) {
    SmtpServerScript script;
    script.greeting = "421 4.3.2 mx.test Service not available";
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    auto result = open(client, server);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.failure->stage, Stage::greeting);
    EXPECT_TRUE(result.failure->remote);
    EXPECT_EQ(result.failure->reply.code, 421);
    EXPECT_EQ(result.failure->verdict, Verdict::temporary);
    EXPECT_FALSE(client.usable());
}

TEST_F(SmtpClientTest, ConnectMovesOnToTheNextAddress) {
    ScriptableSmtpServer server(SmtpServerScript{});
    SmtpClientConnection client(io_.get_executor(), settings());
    const auto refused = endpoint_of("127.0.0.1", free_port());
    auto result =
        run(client.open("mx.test", {refused, endpoint_of(server.address(), server.port())}));
    ASSERT_TRUE(result);
    EXPECT_EQ(server.connections(), 1u);
}

TEST_F(SmtpClientTest, RefusedConnectionIsAConnectFailure) {
    SmtpClientConnection client(io_.get_executor(), settings());
    auto result = run(client.open("mx.test", {endpoint_of("127.0.0.1", free_port())}));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.failure->stage, Stage::connect);
    EXPECT_EQ(result.failure->reply.enhanced, "4.4.1");
}

TEST_F(SmtpClientTest, BindsTheConfiguredSourceAddress) {
    ScriptableSmtpServer server(SmtpServerScript{}, "127.0.0.3");
    auto s = settings();
    s.source_address = asio::ip::make_address("127.0.0.4");
    SmtpClientConnection client(io_.get_executor(), s);
    ASSERT_TRUE(open(client, server));
}

TEST_F(SmtpClientTest, ConnectionReusedWithRsetForThreeMessages) {
    ScriptableSmtpServer server(SmtpServerScript{});
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    for (int i = 0; i < 3; ++i) {
        if (i > 0) {
            ASSERT_TRUE(run(client.reset()));
        }
        auto envelope = envelope_to({"r" + std::to_string(i) + "@example.com"});
        auto report =
            run(client.send_message(envelope, "Subject: " + std::to_string(i) + "\r\n\r\nx\r\n"));
        ASSERT_EQ(report.recipients[0].verdict, Verdict::delivered);
    }
    run(client.quit());
    EXPECT_EQ(server.connections(), 1u);
    const auto received = server.transactions();
    ASSERT_EQ(received.size(), 3u);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(received[i].recipients[0], "r" + std::to_string(i) + "@example.com");
    const auto commands = server.commands();
    EXPECT_EQ(std::count(commands.begin(), commands.end(), "RSET"), 2);
    EXPECT_EQ(commands.back(), "QUIT");
}

TEST_F(SmtpClientTest, HeloFallbackWhenEhloIsRefused) {
    SmtpServerScript script;
    script.ehlo_supported = false;
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    EXPECT_FALSE(client.capabilities().esmtp);
    auto envelope = envelope_to({"a@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_FALSE(report.pipelined);
    EXPECT_EQ(report.recipients[0].verdict, Verdict::delivered);
}

TEST_F(SmtpClientTest, Smtputf8MessageToServerWithoutItIsRefusedWithoutSending) {
    ScriptableSmtpServer server(SmtpServerScript{});
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"j\xc3\xb6rg@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_EQ(report.recipients[0].verdict, Verdict::permanent);
    EXPECT_EQ(report.recipients[0].reply.enhanced, "5.6.7");
    for (const auto& command : server.commands())
        EXPECT_NE(command.rfind("MAIL", 0), 0u) << command;
    EXPECT_TRUE(client.usable());
}

TEST_F(SmtpClientTest, MessageOverServerSizeIsRefusedWithoutSending) {
    SmtpServerScript script;
    script.size = 100;
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings());
    ASSERT_TRUE(open(client, server));
    auto envelope = envelope_to({"a@example.com"});
    auto report = run(client.send_message(envelope, std::string(200, 'x')));
    EXPECT_EQ(report.recipients[0].verdict, Verdict::permanent);
    EXPECT_EQ(report.recipients[0].reply.enhanced, "5.3.4");
}

// ---- TLS --------------------------------------------------------------------------------

TEST_F(SmtpClientTest, OpportunisticStartTlsWithSelfSignedCertificate) {
    SmtpServerScript script;
    script.starttls = true;
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::opportunistic));
    auto opened = open(client, server);
    ASSERT_TRUE(opened) << opened.failure->reply.summary();
    EXPECT_EQ(client.peer().tls_version, "TLSv1.3");
    EXPECT_FALSE(client.capabilities().starttls);  // capabilities from the EHLO inside TLS
    auto envelope = envelope_to({"a@example.com"});
    auto report = run(client.send_message(envelope, k_body));
    EXPECT_EQ(report.recipients[0].verdict, Verdict::delivered);
    EXPECT_EQ(report.recipients[0].peer.tls_version, "TLSv1.3");
    ASSERT_EQ(server.transactions().size(), 1u);
    EXPECT_TRUE(server.transactions()[0].tls);
    EXPECT_EQ(server.transactions()[0].body, k_body + "\r\n");
}

TEST_F(SmtpClientTest, OpportunisticCarriesOnInTheClearWhenStartTlsIsRefused) {
    SmtpServerScript script;
    script.starttls = true;
    script.starttls_reply = "454 4.7.0 TLS not available";
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::opportunistic));
    ASSERT_TRUE(open(client, server));
    EXPECT_TRUE(client.peer().tls_version.empty());
    auto envelope = envelope_to({"a@example.com"});
    EXPECT_EQ(run(client.send_message(envelope, k_body)).recipients[0].verdict, Verdict::delivered);
}

TEST_F(SmtpClientTest, PolicyNoneNeverStartsTls) {
    SmtpServerScript script;
    script.starttls = true;
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::none));
    ASSERT_TRUE(open(client, server));
    EXPECT_TRUE(client.peer().tls_version.empty());
    const auto commands = server.commands();
    EXPECT_EQ(std::count(commands.begin(), commands.end(), "STARTTLS"), 0);
}

TEST_F(SmtpClientTest, VerifyPolicyFailsOnSelfSignedCertificate) {
    SmtpServerScript script;
    script.starttls = true;
    ScriptableSmtpServer server(script);
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::verify));
    auto result = open(client, server);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.failure->stage, Stage::starttls);
    EXPECT_TRUE(result.tls_failed);
    EXPECT_EQ(result.failure->reply.enhanced, "4.7.5");
    EXPECT_EQ(result.failure->verdict, Verdict::temporary);
    EXPECT_FALSE(client.usable());
}

class TrustedCertificate {
  public:
    explicit TrustedCertificate(const std::string& pem)
        : path_(std::filesystem::temp_directory_path() /
                ("smarthost-ca-" + std::to_string(::getpid()) + ".pem")) {
        std::ofstream(path_) << pem;
    }
    ~TrustedCertificate() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    std::string path() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

TEST_F(SmtpClientTest, VerifyPolicySucceedsWithTrustedCertificateAndMatchingName) {
    SmtpServerScript script;
    script.starttls = true;
    ScriptableSmtpServer server(script);
    TrustedCertificate ca(server.certificate_pem());
    auto s = settings(TlsPolicy::verify);
    s.tls_ca_file = ca.path();
    SmtpClientConnection client(io_.get_executor(), s);
    auto opened = open(client, server);
    ASSERT_TRUE(opened) << opened.failure->reply.summary();
    EXPECT_FALSE(client.peer().tls_version.empty());
}

TEST_F(SmtpClientTest, VerifyPolicyFailsOnHostNameMismatch) {
    SmtpServerScript script;
    script.starttls = true;
    ScriptableSmtpServer server(script);
    TrustedCertificate ca(server.certificate_pem());
    auto s = settings(TlsPolicy::verify);
    s.tls_ca_file = ca.path();
    SmtpClientConnection client(io_.get_executor(), s);
    auto result = run(client.open("other.test", {endpoint_of(server.address(), server.port())}));
    ASSERT_FALSE(result);
    EXPECT_TRUE(result.tls_failed);
}

TEST_F(SmtpClientTest, VerifyPolicyRequiresStartTls) {
    ScriptableSmtpServer server(SmtpServerScript{});
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::verify));
    auto result = open(client, server);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.failure->reply.enhanced, "4.7.4");
    EXPECT_TRUE(server.transactions().empty());
}

// ---- DANE (RFC 7672) --------------------------------------------------------------------

dns::TlsaRecord tlsa_for(const std::string& pem, std::uint8_t usage, std::uint8_t selector,
                         std::uint8_t matching_type) {
    dns::TlsaRecord record;
    record.usage = usage;
    record.selector = selector;
    record.matching_type = matching_type;
    const std::string selected = test::tlsa_selected_der(pem, selector);
    record.data = matching_type == 1 ? test::sha256(selected) : selected;
    return record;
}

SmtpServerScript starttls_script() {
    SmtpServerScript script;
    script.starttls = true;  // a self-signed certificate for mx.test
    return script;
}

TEST_F(SmtpClientTest, DaneAcceptsACertificateWhoseKeyMatchesADaneEeRecord) {
    ScriptableSmtpServer server(starttls_script());
    auto s = settings(TlsPolicy::dane);
    s.tlsa = {tlsa_for(server.certificate_pem(), 3, 1, 1)};
    SmtpClientConnection client(io_.get_executor(), s);
    // DANE-EE ignores names: the certificate says mx.test, the host is called otherwise.
    auto opened = run(client.open("other.test", {endpoint_of(server.address(), server.port())}));
    ASSERT_TRUE(opened) << opened.failure->reply.summary();
    EXPECT_EQ(opened.dane, DaneCheck::verified);
    EXPECT_FALSE(client.peer().tls_version.empty());
    const auto report = run(client.send_message(envelope_to({"a@example.com"}), k_body));
    ASSERT_EQ(report.recipients.size(), 1u);
    EXPECT_EQ(report.recipients[0].verdict, Verdict::delivered);
    ASSERT_EQ(server.transactions().size(), 1u);
    EXPECT_TRUE(server.transactions()[0].tls);
}

TEST_F(SmtpClientTest, DaneRefusesACertificateNoRecordMatches) {
    ScriptableSmtpServer server(starttls_script());
    ScriptableSmtpServer other(starttls_script());
    auto s = settings(TlsPolicy::dane);
    s.tlsa = {tlsa_for(other.certificate_pem(), 3, 1, 1),
              tlsa_for(other.certificate_pem(), 2, 0, 0)};
    SmtpClientConnection client(io_.get_executor(), s);
    auto result = open(client, server);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.dane, DaneCheck::mismatch);
    EXPECT_TRUE(result.tls_failed);
    EXPECT_EQ(result.failure->stage, Stage::starttls);
    EXPECT_EQ(result.failure->reply.enhanced, "4.7.5");
    EXPECT_EQ(result.failure->verdict, Verdict::temporary);
    EXPECT_NE(result.failure->reply.summary().find("DANE"), std::string::npos)
        << result.failure->reply.summary();
    EXPECT_FALSE(client.usable());
    EXPECT_TRUE(server.transactions().empty());
}

TEST_F(SmtpClientTest, DaneTaChecksTheMxNameOrTheNextHopDomain) {
    auto script = starttls_script();
    script.issued_by_ca = true;  // mx.test, issued by a CA that the chain includes
    ScriptableSmtpServer server(script);
    auto s = settings(TlsPolicy::dane);
    s.tlsa = {tlsa_for(server.ca_certificate_pem(), 2, 1, 1)};
    SmtpClientConnection named(io_.get_executor(), s);
    auto opened = open(named, server);  // host mx.test, as the certificate says
    ASSERT_TRUE(opened) << opened.failure->reply.summary();
    EXPECT_EQ(opened.dane, DaneCheck::verified);

    SmtpClientConnection misnamed(io_.get_executor(), s);
    auto refused = run(misnamed.open("other.test", {endpoint_of(server.address(), server.port())}));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.dane, DaneCheck::mismatch);

    s.next_hop_domain = "mx.test";  // RFC 7672 section 3.2.2: the next-hop domain's name
    SmtpClientConnection by_next_hop(io_.get_executor(), s);
    auto accepted =
        run(by_next_hop.open("other.test", {endpoint_of(server.address(), server.port())}));
    ASSERT_TRUE(accepted) << accepted.failure->reply.summary();
    EXPECT_EQ(accepted.dane, DaneCheck::verified);
}

TEST_F(SmtpClientTest, DaneRequiresStartTlsEvenWithoutUsableRecords) {
    ScriptableSmtpServer clear_text(SmtpServerScript{});
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::dane));
    auto result = open(client, clear_text);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.dane, DaneCheck::no_tls);
    EXPECT_EQ(result.failure->reply.enhanced, "4.7.5");
    EXPECT_NE(result.failure->reply.summary().find("STARTTLS"), std::string::npos);
    EXPECT_TRUE(clear_text.transactions().empty());

    // TLS with any certificate is enough then (RFC 7672 section 2.2).
    ScriptableSmtpServer server(starttls_script());
    SmtpClientConnection unauthenticated(io_.get_executor(), settings(TlsPolicy::dane));
    auto opened = open(unauthenticated, server);
    ASSERT_TRUE(opened) << opened.failure->reply.summary();
    EXPECT_EQ(opened.dane, DaneCheck::unauthenticated);
    EXPECT_FALSE(unauthenticated.peer().tls_version.empty());
}

TEST_F(SmtpClientTest, DaneTreatsARefusedStartTlsAsATemporaryDaneFailure) {
    auto script = starttls_script();
    script.starttls_reply = "554 5.7.0 No TLS for you";
    ScriptableSmtpServer server(script);
    auto s = settings(TlsPolicy::dane);
    s.tlsa = {tlsa_for(server.certificate_pem(), 3, 1, 1)};
    SmtpClientConnection client(io_.get_executor(), s);
    auto result = open(client, server);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.dane, DaneCheck::no_tls);
    EXPECT_EQ(result.failure->verdict, Verdict::temporary);  // never a bounce
    EXPECT_NE(result.failure->reply.summary().find("554"), std::string::npos);
    EXPECT_TRUE(server.transactions().empty());
}

// A server offering AUTH after STARTTLS, with a self-signed certificate for mx.test.
SmtpServerScript auth_script(std::vector<std::string> mechanisms = {"PLAIN", "LOGIN"}) {
    SmtpServerScript script;
    script.starttls = true;
    script.auth_mechanisms = std::move(mechanisms);
    script.auth_username = "relay-user";
    script.auth_password = "s3cret";
    return script;
}

bool any_auth_command(const ScriptableSmtpServer& server) {
    const auto commands = server.commands();
    return std::any_of(commands.begin(), commands.end(),
                       [](const std::string& command) { return command.rfind("AUTH", 0) == 0; });
}

TEST_F(SmtpClientTest, AuthenticatesWithPlainOverVerifiedTls) {
    ScriptableSmtpServer server(auth_script());
    TrustedCertificate ca(server.certificate_pem());
    auto s = settings(TlsPolicy::verify);
    s.tls_ca_file = ca.path();
    SmtpClientConnection client(io_.get_executor(), s);
    ASSERT_TRUE(open(client, server));
    auto bad = run(client.authenticate("relay-user", "wrong"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.failure->reply.code, 535);
    ASSERT_TRUE(run(client.authenticate("relay-user", "s3cret")));
    auto envelope = envelope_to({"a@example.com"});
    EXPECT_EQ(run(client.send_message(envelope, k_body)).recipients[0].verdict, Verdict::delivered);
    EXPECT_TRUE(server.transactions()[0].authenticated);
}

TEST_F(SmtpClientTest, AuthenticatesWithLoginWhenPlainIsNotOffered) {
    ScriptableSmtpServer server(auth_script({"LOGIN"}));
    TrustedCertificate ca(server.certificate_pem());
    auto s = settings(TlsPolicy::verify);
    s.tls_ca_file = ca.path();
    SmtpClientConnection client(io_.get_executor(), s);
    ASSERT_TRUE(open(client, server));
    EXPECT_TRUE(run(client.authenticate("relay-user", "s3cret")));
}

// Issue 11 point 18: opportunistic TLS takes any certificate, so whoever intercepts the
// connection to the upstream relay would be handed its password.
TEST_F(SmtpClientTest, NeverSendsCredentialsOverTlsWithAnUnverifiedCertificate) {
    ScriptableSmtpServer server(auth_script());
    SmtpClientConnection client(io_.get_executor(), settings(TlsPolicy::opportunistic));
    ASSERT_TRUE(open(client, server));
    ASSERT_EQ(client.peer().tls_version, "TLSv1.3");
    auto result = run(client.authenticate("relay-user", "s3cret"));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.failure->stage, Stage::auth);
    EXPECT_FALSE(result.failure->remote);
    EXPECT_EQ(result.failure->reply.summary(),
              "454 4.7.0 Refusing to send credentials over TLS whose certificate was not "
              "verified");
    EXPECT_EQ(result.failure->verdict, Verdict::temporary);
    EXPECT_FALSE(any_auth_command(server));
}

TEST_F(SmtpClientTest, SendsCredentialsOverUnverifiedTlsWhenAllowed) {
    ScriptableSmtpServer server(auth_script());
    auto s = settings(TlsPolicy::opportunistic);
    s.allow_auth_without_verified_tls = true;
    SmtpClientConnection client(io_.get_executor(), s);
    ASSERT_TRUE(open(client, server));
    ASSERT_TRUE(run(client.authenticate("relay-user", "s3cret")));
    auto envelope = envelope_to({"a@example.com"});
    EXPECT_EQ(run(client.send_message(envelope, k_body)).recipients[0].verdict, Verdict::delivered);
    EXPECT_TRUE(server.transactions()[0].authenticated);
}

TEST_F(SmtpClientTest, NeverSendsCredentialsWithoutTls) {
    for (const bool allow_unverified : {false, true}) {
        SmtpServerScript script;
        script.auth_mechanisms = {"PLAIN"};
        ScriptableSmtpServer server(script);
        auto s = settings(TlsPolicy::none);
        s.allow_auth_without_verified_tls = allow_unverified;
        SmtpClientConnection client(io_.get_executor(), s);
        ASSERT_TRUE(open(client, server));
        auto result = run(client.authenticate("u", "p"));
        ASSERT_FALSE(result);
        EXPECT_EQ(result.failure->stage, Stage::auth);
        EXPECT_EQ(result.failure->reply.summary(),
                  "454 4.7.0 Refusing to send credentials without TLS");
        EXPECT_FALSE(any_auth_command(server));
    }
}

}  // namespace
}  // namespace smarthost::delivery
