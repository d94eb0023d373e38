// End to end: the real binary, swaks and a raw client, a real PostgreSQL. Assertions are
// on SMTP replies and on the rows and bytes stored.

#include <gtest/gtest.h>

#include <fstream>

#include "tests/e2e/harness.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

constexpr const char* k_username = "alice@customer.example";
constexpr const char* k_password = "correct horse battery";
// 127.0.0.2 is the customer's allow-listed network; 127.0.0.3 belongs to nobody.
constexpr const char* k_allowed_ip = "127.0.0.2";
constexpr const char* k_stranger_ip = "127.0.0.3";

class Submission : public ::testing::Test {
  protected:
    explicit Submission(ServerOptions options = {}) : server_(db_.url(), std::move(options)) {}

    void SetUp() override {
        account_id_ = db_.create_account("customer");
        db_.add_sender_domain(account_id_, "customer.example");
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", account_id_,
                 std::string(k_allowed_ip) + "/32");
        const auto result =
            server_.subcommand({"credential", "set", "--account", "customer", "--username",
                                k_username, "--password", k_password});
        ASSERT_EQ(result.exit_code, 0) << result.output;
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "---- smarthost log ----\n" << server_.log() << '\n';
    }

    std::string message_count() { return *db_.exec("SELECT count(*) FROM messages").at(0).at(0); }

    std::string port(const std::string& listener) { return std::to_string(server_.port(listener)); }

    test::TestDatabase db_;
    SmarthostServer server_;
    std::int64_t account_id_ = 0;
};

TEST_F(Submission, StartTlsWithAuthPlainIsQueuedWithEveryByteStored) {
    TempDir dir;
    const std::string content =
        "From: Alice <alice@customer.example>\r\nTo: bob@example.org\r\nSubject: e2e\r\n"
        "Message-ID: <e2e-1@customer.example>\r\n\r\nHello Bob,\r\n\r\n8-bit: caf\xc3\xa9\r\n";
    const auto data_file = dir.path() / "message.eml";
    std::ofstream(data_file, std::ios::binary) << content;

    const auto result =
        swaks({"--server", "127.0.0.1:" + port("submission"), "--tls", "--auth", "PLAIN",
               "--auth-user", k_username, "--auth-password", k_password, "--from",
               "alice@customer.example", "--to", "bob@example.org", "--data", data_file.string()});
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const auto id = queued_id(result.output);
    ASSERT_FALSE(id.empty()) << result.output;

    const auto rows = db_.exec(
        "SELECT account_id, credential_id IS NOT NULL, envelope_sender, tls_version, "
        "header_message_id, encode(body, 'hex'), size_bytes FROM messages WHERE id = $1::uuid",
        id);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], std::to_string(account_id_));
    EXPECT_EQ(*rows[0][1], "t");
    EXPECT_EQ(*rows[0][2], "alice@customer.example");
    EXPECT_EQ(*rows[0][3], "TLSv1.3");
    EXPECT_EQ(*rows[0][4], "<e2e-1@customer.example>");

    std::string body;
    const std::string& hex = *rows[0][5];
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        body.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    EXPECT_EQ(*rows[0][6], std::to_string(body.size()));
    ASSERT_EQ(body.rfind("Received: from ", 0), 0u) << body;
    EXPECT_NE(body.find("with ESMTPSA id " + id), std::string::npos) << body;
    EXPECT_NE(body.find("TLSv1.3"), std::string::npos) << body;
    // After our trace header comes exactly what the client sent (swaks ends the data
    // with one more CRLF of its own before the final dot).
    const auto original = body.find("\r\nFrom: Alice");
    ASSERT_NE(original, std::string::npos) << body;
    EXPECT_EQ(body.substr(original + 2), content + "\r\n");

    const auto recipients =
        db_.exec("SELECT address, domain, state FROM recipients WHERE message_id = $1::uuid", id);
    ASSERT_EQ(recipients.size(), 1u);
    EXPECT_EQ(*recipients[0][0], "bob@example.org");
    EXPECT_EQ(*recipients[0][1], "example.org");
    EXPECT_EQ(*recipients[0][2], "queued");
    EXPECT_EQ(db_.exec("SELECT kind FROM events WHERE message_id = $1::uuid", id).size(), 1u);
}

TEST_F(Submission, ImplicitTlsWithAuthLoginIsQueued) {
    const auto result =
        swaks({"--server", "127.0.0.1:" + port("submissions"), "--tls-on-connect", "--auth",
               "LOGIN", "--auth-user", k_username, "--auth-password", k_password, "--from",
               "alice@customer.example", "--to", "carol@example.net,dave@example.com"});
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const auto id = queued_id(result.output);
    ASSERT_FALSE(id.empty()) << result.output;
    EXPECT_EQ(db_.exec("SELECT 1 FROM recipients WHERE message_id = $1::uuid", id).size(), 2u);
}

TEST_F(Submission, AllowListedNetworkRelaysWithoutAuth) {
    const auto result =
        swaks({"--server", "127.0.0.1:" + port("submission"), "--local-interface", k_allowed_ip,
               "--from", "app@customer.example", "--to", "someone@example.org"});
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const auto id = queued_id(result.output);
    ASSERT_FALSE(id.empty()) << result.output;
    const auto rows = db_.exec(
        "SELECT account_id, credential_id, host(client_ip) FROM messages WHERE id = $1::uuid", id);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], std::to_string(account_id_));
    EXPECT_FALSE(rows[0][1].has_value());
    EXPECT_EQ(*rows[0][2], k_allowed_ip);
}

TEST_F(Submission, ClientOutsideEveryNetworkGets530) {
    const auto result =
        swaks({"--server", "127.0.0.1:" + port("submission"), "--local-interface", k_stranger_ip,
               "--from", "app@customer.example", "--to", "someone@example.org"});
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.output.find("530 5.7.0"), std::string::npos) << result.output;
    EXPECT_EQ(message_count(), "0");
}

TEST_F(Submission, TlsWithoutAuthStillGets530) {
    const auto result =
        swaks({"--server", "127.0.0.1:" + port("submission"), "--tls", "--local-interface",
               k_stranger_ip, "--from", "a@customer.example", "--to", "someone@example.org"});
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.output.find("530 5.7.0"), std::string::npos) << result.output;
    EXPECT_EQ(message_count(), "0");
}

TEST_F(Submission, NoAddressTrickGetsAnUnauthenticatedRecipientAccepted) {
    const std::vector<std::string> tricks = {
        "<victim@outside.example>",
        "<victim%outside.example@relay.e2e.test>",
        "<@relay.e2e.test:victim@outside.example>",
        "<@relay.e2e.test,@other.example:victim@outside.example>",
        "<\"victim@outside.example\"@relay.e2e.test>",
        "<outside.example!victim@relay.e2e.test>",
        "<victim@outside.example.>",
        "<victim@[192.0.2.1]>",
        "<victim@[IPv6:2001:db8::1]>",
        "<postmaster>",
        "<postmaster@relay.e2e.test>",
        "victim@outside.example",
        "<victim@outside.example> NOTIFY=NEVER",
    };
    for (const auto& trick : tricks) {
        // A connection per trick, so the per-session error limit does not hide anything.
        RawSmtpClient client(server_.port("submission"), k_stranger_ip);
        ASSERT_EQ(reply_code(client.reply()), 220);
        ASSERT_EQ(reply_code(client.command("EHLO attacker.example")), 250);
        ASSERT_EQ(reply_code(client.command("MAIL FROM:<spammer@attacker.example>")), 250);
        const auto reply = client.command("RCPT TO:" + trick);
        EXPECT_EQ(reply.rfind("530 5.7.0", 0), 0u) << trick << " -> " << reply;
        const auto data = client.command("DATA");
        EXPECT_EQ(data.rfind("503 5.5.1", 0), 0u) << trick << " then DATA -> " << data;
    }
    EXPECT_EQ(message_count(), "0");
}

TEST_F(Submission, AuthBeforeTlsGets538AndIsNotAdvertised) {
    RawSmtpClient client(server_.port("submission"), k_stranger_ip);
    client.reply();
    const auto ehlo = client.command("EHLO client.example");
    EXPECT_NE(ehlo.find("STARTTLS"), std::string::npos) << ehlo;
    EXPECT_EQ(ehlo.find("AUTH"), std::string::npos) << ehlo;
    // "\0alice@customer.example\0correct horse battery" in base64.
    const auto reply =
        client.command("AUTH PLAIN AGFsaWNlQGN1c3RvbWVyLmV4YW1wbGUAY29ycmVjdCBob3JzZSBiYXR0ZXJ5");
    EXPECT_EQ(reply.rfind("538 5.7.11", 0), 0u) << reply;
}

TEST_F(Submission, WrongPasswordGets535) {
    const auto result = swaks({"--server", "127.0.0.1:" + port("submission"), "--tls", "--auth",
                               "PLAIN", "--auth-user", k_username, "--auth-password", "wrong",
                               "--from", "alice@customer.example", "--to", "bob@example.org"});
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.output.find("535 5.7.8"), std::string::npos) << result.output;
    EXPECT_EQ(message_count(), "0");
}

TEST_F(Submission, BareLfRejectsTheMessageAndSmugglesNothing) {
    RawSmtpClient client(server_.port("submission"), k_allowed_ip);
    client.reply();
    client.command("EHLO app.customer.example");
    ASSERT_EQ(reply_code(client.command("MAIL FROM:<app@customer.example>")), 250);
    ASSERT_EQ(reply_code(client.command("RCPT TO:<one@example.org>")), 250);
    ASSERT_EQ(reply_code(client.command("DATA")), 354);
    // A receiver that ended DATA at "\n.\n" would see a second, smuggled transaction.
    client.send(
        "From: app@customer.example\r\nSubject: first\r\n\r\nbody\n.\nMAIL "
        "FROM:<ceo@customer.example>\r\n"
        "RCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n");
    const auto reply = client.reply();
    EXPECT_EQ(reply.rfind("554 5.6.0", 0), 0u) << reply;
    EXPECT_EQ(reply_code(client.command("NOOP")), 250);  // exactly one reply came
    EXPECT_EQ(reply_code(client.command("QUIT")), 221);
    EXPECT_EQ(message_count(), "0");
}

TEST_F(Submission, PipelinedTransactionGetsEveryReplyInOrderAndDotsAreUnstuffed) {
    RawSmtpClient client(server_.port("submission"), k_allowed_ip);
    client.reply();
    const auto ehlo = client.command("EHLO app.customer.example");
    ASSERT_NE(ehlo.find("PIPELINING"), std::string::npos) << ehlo;
    client.send(
        "MAIL FROM:<app@customer.example> BODY=8BITMIME\r\nRCPT TO:<a@example.org>\r\n"
        "RCPT TO:<b@example.net> NOTIFY=FAILURE,DELAY\r\nDATA\r\n");
    EXPECT_EQ(client.reply().rfind("250 2.1.0", 0), 0u);
    EXPECT_EQ(client.reply().rfind("250 2.1.5", 0), 0u);
    EXPECT_EQ(client.reply().rfind("250 2.1.5", 0), 0u);
    EXPECT_EQ(reply_code(client.reply()), 354);
    client.send(
        "From: app@customer.example\r\nSubject: dots\r\n\r\n..leading dot\r\n...\r\n.\r\nQUIT\r\n");
    const auto queued = client.reply();
    const auto id = queued_id(queued);
    ASSERT_FALSE(id.empty()) << queued;
    EXPECT_EQ(reply_code(client.reply()), 221);

    const auto rows = db_.exec(
        "SELECT position(convert_to(E'\\r\\nSubject: dots\\r\\n\\r\\n.leading dot\\r\\n..\\r\\n', "
        "'UTF8') in body) > 0, body_8bitmime FROM messages WHERE id = $1::uuid",
        id);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], "t");
    EXPECT_EQ(*rows[0][1], "t");
    const auto notify = db_.exec(
        "SELECT dsn_notify FROM recipients WHERE message_id = $1::uuid AND address = "
        "'b@example.net'",
        id);
    ASSERT_EQ(notify.size(), 1u);
    EXPECT_EQ(*notify[0][0], "FAILURE,DELAY");
}

TEST_F(Submission, OverlongCommandGets500) {
    RawSmtpClient client(server_.port("submission"), k_allowed_ip);
    client.reply();
    const auto reply = client.command("NOOP " + std::string(600, 'x'));
    EXPECT_EQ(reply.rfind("500 5.5.2", 0), 0u) << reply;
    EXPECT_EQ(reply_code(client.command("NOOP")), 250);
}

// Issue 11 point 9, RFC 5321 section 4.5.3.1.1: a local part over 64 octets.
TEST_F(Submission, LocalPartOver64OctetsIs501AtMailAndRcpt) {
    RawSmtpClient client(server_.port("submission"), k_allowed_ip);
    client.reply();
    client.command("EHLO app.customer.example");
    const std::string long_local(65, 'a');
    EXPECT_EQ(client.command("MAIL FROM:<" + long_local + "@customer.example>"),
              "501 5.1.7 Bad sender address syntax: local part longer than 64 octets (RFC 5321 "
              "section 4.5.3.1.1)\r\n");
    ASSERT_EQ(reply_code(client.command("MAIL FROM:<app@customer.example>")), 250);
    EXPECT_EQ(client.command("RCPT TO:<" + long_local + "@example.org>"),
              "501 5.1.3 Bad recipient address syntax: local part longer than 64 octets (RFC "
              "5321 section 4.5.3.1.1)\r\n");
    EXPECT_TRUE(starts_with(client.command("DATA"), "503 5.5.1"));
    EXPECT_EQ(message_count(), "0");
}

// The same addresses through a listener configured for legacy senders.
class LegacyAddresses : public Submission {
  protected:
    static ServerOptions options() {
        ServerOptions o;
        o.listeners = {{"submission", "starttls", true, "max_local_part_octets = 100"}};
        return o;
    }
    LegacyAddresses() : Submission(options()) {}
};

TEST_F(LegacyAddresses, RaisedLimitAcceptsLongLocalParts) {
    RawSmtpClient client(server_.port("submission"), k_allowed_ip);
    client.reply();
    client.command("EHLO app.customer.example");
    const std::string srs = "SRS0=abcd=XY=legacy.example=" + std::string(60, 'u');
    ASSERT_EQ(reply_code(client.command("MAIL FROM:<" + srs + "@customer.example>")), 250);
    ASSERT_EQ(reply_code(client.command("RCPT TO:<" + std::string(100, 'v') + "@example.org>")),
              250);
    EXPECT_TRUE(starts_with(client.command("RCPT TO:<" + std::string(101, 'v') + "@example.org>"),
                            "501 5.1.3"));
    ASSERT_EQ(reply_code(client.command("DATA")), 354);
    const auto queued = client.command("From: app@customer.example\r\n\r\nhi\r\n.");
    ASSERT_FALSE(queued_id(queued).empty()) << queued;
    const auto rows = db_.exec(
        "SELECT m.envelope_sender, r.address FROM messages m "
        "JOIN recipients r ON r.message_id = m.id");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], srs + "@customer.example");
    EXPECT_EQ(*rows[0][1], std::string(100, 'v') + "@example.org");
}

class SmallMessages : public Submission {
  protected:
    static ServerOptions options() {
        ServerOptions o;
        o.listeners = {{"submission", "starttls", true, "max_message_bytes = 2048"}};
        return o;
    }
    SmallMessages() : Submission(options()) {}
};

TEST_F(SmallMessages, OversizeIsRefusedAtMailAndAfterData) {
    RawSmtpClient client(server_.port("submission"), k_allowed_ip);
    client.reply();
    const auto ehlo = client.command("EHLO app.customer.example");
    EXPECT_NE(ehlo.find("SIZE 2048"), std::string::npos) << ehlo;
    const auto declared = client.command("MAIL FROM:<app@customer.example> SIZE=4096");
    EXPECT_EQ(declared.rfind("552 5.3.4", 0), 0u) << declared;

    ASSERT_EQ(reply_code(client.command("MAIL FROM:<app@customer.example>")), 250);
    ASSERT_EQ(reply_code(client.command("RCPT TO:<one@example.org>")), 250);
    ASSERT_EQ(reply_code(client.command("DATA")), 354);
    std::string big = "From: app@customer.example\r\nSubject: big\r\n\r\n";
    for (int i = 0; i < 100; ++i)
        big += std::string(70, 'a') + "\r\n";
    client.send(big + ".\r\n");
    const auto reply = client.reply();
    EXPECT_EQ(reply.rfind("552 5.3.4", 0), 0u) << reply;
    EXPECT_EQ(message_count(), "0");
}

}  // namespace
}  // namespace smarthost::e2e
