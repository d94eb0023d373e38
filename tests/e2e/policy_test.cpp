// End to end: account policy on the submission path (docs/policy.md) with the real
// binary. Assertions are on the SMTP replies and on what was (not) stored.

#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/harness.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_allowed_ip = "127.0.0.2";
constexpr const char* k_username = "app@shop.example";
constexpr const char* k_password = "policy test password";

ServerOptions policy_options(const std::string& policy_toml) {
    ServerOptions options;
    options.listeners = {{"submission", "none", true}};
    options.allow_auth_without_tls = true;
    options.extra_toml = "[policy]\n" + policy_toml;
    return options;
}

class Policy : public ::testing::Test {
  protected:
    explicit Policy(const std::string& policy_toml = "account_cache_ms = 0\n")
        : server_(db_.url(), policy_options(policy_toml)) {}

    void SetUp() override {
        account_id_ = db_.create_account("shop");
        db_.add_sender_domain(account_id_, "shop.example");
        db_.add_sender_domain(account_id_, "brand.example", "verified", true);
        db_.add_sender_domain(account_id_, "pending.example", "pending");
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", account_id_,
                 std::string(k_allowed_ip) + "/32");
        // Another customer's verified domain is no licence for this one.
        const auto other = db_.create_account("bank");
        db_.add_sender_domain(other, "bank.example");
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "---- smarthost log ----\n" << server_.log() << '\n';
    }

    // A connected client from the allow-listed address, past EHLO.
    std::unique_ptr<RawSmtpClient> client() {
        auto c = std::make_unique<RawSmtpClient>(server_.port("submission"), k_allowed_ip);
        EXPECT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO app.shop.example")), 250);
        return c;
    }

    // MAIL, RCPT, DATA with `content`; the reply to the final dot.
    std::string transaction(RawSmtpClient& c, const std::string& sender,
                            const std::string& content) {
        EXPECT_EQ(reply_code(c.command("MAIL FROM:<" + sender + ">")), 250);
        EXPECT_EQ(reply_code(c.command("RCPT TO:<someone@example.org>")), 250);
        EXPECT_EQ(reply_code(c.command("DATA")), 354);
        return c.command(content + "\r\n.");
    }

    std::string message_count() { return *db_.exec("SELECT count(*) FROM messages").at(0).at(0); }

    test::TestDatabase db_;
    SmarthostServer server_;
    std::int64_t account_id_ = 0;
};

TEST_F(Policy, AuthorizedSenderAndFromAreQueued) {
    auto c = client();
    const auto done =
        transaction(*c, "app@shop.example", "From: Shop <info@shop.example>\r\n\r\nhi");
    EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    EXPECT_EQ(message_count(), "1");
}

TEST_F(Policy, ForeignEnvelopeDomainIsRefusedAtMailWith553) {
    auto c = client();
    const auto reply = c->command("MAIL FROM:<ceo@bank.example>");
    EXPECT_EQ(reply,
              "553 5.7.1 Sender domain bank.example is not a verified sender domain of account "
              "shop\r\n");
    EXPECT_TRUE(starts_with(c->command("RCPT TO:<someone@example.org>"), "503 5.5.1"));
}

TEST_F(Policy, PendingDomainDoesNotAuthorize) {
    auto c = client();
    EXPECT_TRUE(starts_with(c->command("MAIL FROM:<a@pending.example>"), "553 5.7.1"));
}

TEST_F(Policy, SubdomainsAuthorizeOnlyWhereIncluded) {
    auto c = client();
    const auto done =
        transaction(*c, "news@mail.brand.example", "From: news@mail.brand.example\r\n\r\nhi");
    EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    EXPECT_TRUE(starts_with(c->command("MAIL FROM:<news@mail.shop.example>"), "553 5.7.1"));
}

TEST_F(Policy, ForeignFromHeaderIsRefusedAfterTheFinalDotWith550) {
    auto c = client();
    const auto done = transaction(*c, "app@shop.example",
                                  "From: CEO <ceo@bank.example>\r\nSubject: pay\r\n\r\nhi");
    EXPECT_EQ(done,
              "550 5.7.1 Message rejected: From: header domain bank.example is not a verified "
              "sender domain of account shop\r\n");
    EXPECT_EQ(message_count(), "0");
    // The session goes on: the next, honest message is accepted.
    const auto next = transaction(*c, "app@shop.example", "From: info@shop.example\r\n\r\nhi");
    EXPECT_TRUE(starts_with(next, "250 2.0.0")) << next;
    EXPECT_EQ(message_count(), "1");
}

TEST_F(Policy, MissingFromOrSeveralAuthorsWithoutSenderAreRefusedWith550_5_6_0) {
    auto c = client();
    const auto missing = transaction(*c, "app@shop.example", "Subject: anonymous\r\n\r\nhi");
    EXPECT_EQ(missing,
              "550 5.6.0 Message rejected: no From: header field (RFC 5322 section 3.6)\r\n");
    const auto several =
        transaction(*c, "app@shop.example", "From: a@shop.example, b@shop.example\r\n\r\nhi");
    EXPECT_TRUE(starts_with(several, "550 5.6.0")) << several;
    const auto with_sender =
        transaction(*c, "app@shop.example",
                    "From: a@shop.example, b@brand.example\r\nSender: a@shop.example\r\n\r\nhi");
    EXPECT_TRUE(starts_with(with_sender, "250 2.0.0")) << with_sender;
    EXPECT_EQ(message_count(), "1");
}

TEST_F(Policy, NullSenderNeedsTheAccountsPermission) {
    auto c = client();
    EXPECT_EQ(c->command("MAIL FROM:<>"),
              "553 5.7.1 Account shop may not send with the null sender <>\r\n");
    db_.exec("UPDATE accounts SET may_send_null_sender = true WHERE id = $1", account_id_);
    const auto done = transaction(*c, "", "From: MAILER-DAEMON@shop.example\r\n\r\nbounce");
    EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    const auto rows = db_.exec("SELECT envelope_sender FROM messages");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], "");
}

TEST_F(Policy, SuspendedAccountIsRefusedAtMailNamingTheReason) {
    db_.exec(
        "UPDATE accounts SET status = 'suspended', suspended_reason = 'spam complaints' "
        "WHERE id = $1",
        account_id_);
    auto c = client();
    EXPECT_EQ(c->command("MAIL FROM:<app@shop.example>"),
              "550 5.7.1 Account shop is suspended: spam complaints\r\n");
    EXPECT_EQ(message_count(), "0");
}

TEST_F(Policy, SuppressedRecipientIsRefusedWith550_5_1_1) {
    db_.exec("INSERT INTO suppressions (account_id, address, reason) VALUES ($1, $2, 'operator')",
             account_id_, "gone@example.org");
    auto c = client();
    ASSERT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    EXPECT_EQ(c->command("RCPT TO:<Gone@Example.org>"),
              "550 5.1.1 Recipient <Gone@Example.org> is suppressed for this account "
              "(suppressed by the operator)\r\n");
    ASSERT_EQ(reply_code(c->command("RCPT TO:<here@example.org>")), 250);
    ASSERT_EQ(reply_code(c->command("DATA")), 354);
    const auto done = c->command("From: app@shop.example\r\n\r\nhi\r\n.");
    ASSERT_TRUE(starts_with(done, "250 2.0.0")) << done;
    const auto rows = db_.exec("SELECT address FROM recipients");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], "here@example.org");
}

// Issue 11 point 13: a quoted local part that needs no quotes, or a different case, is
// the same mailbox, and no way around the suppression.
TEST_F(Policy, SuppressionCatchesEverySpellingOfTheAddress) {
    db_.exec("INSERT INTO suppressions (account_id, address, reason) VALUES ($1, $2, 'operator')",
             account_id_, "gone@example.org");
    auto c = client();
    ASSERT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    for (const std::string spelling : {"\"gone\"@example.org", "\"G\\one\"@EXAMPLE.org"}) {
        EXPECT_EQ(c->command("RCPT TO:<" + spelling + ">"),
                  "550 5.1.1 Recipient <" + spelling +
                      "> is suppressed for this account (suppressed by the operator)\r\n");
    }
    EXPECT_TRUE(starts_with(c->command("DATA"), "503 5.5.1"));
    EXPECT_EQ(message_count(), "0");
}

// Issue 11 point 8: a message that has passed more relays than [smtp]
// max_received_headers is looping; it is refused after the final dot and not stored.
TEST_F(Policy, MailLoopIsRefusedWith554_5_4_6AndNotStored) {
    std::string trace;
    for (int hop = 0; hop < 51; ++hop)
        trace += "Received: from hop" + std::to_string(hop) +
                 ".example by relay.example;\r\n\tTue, 1 Dec 2026 10:00:00 +0000\r\n";
    auto c = client();
    const auto looping = transaction(*c, "app@shop.example",
                                     trace + "From: info@shop.example\r\nSubject: loop\r\n\r\nhi");
    EXPECT_EQ(looping,
              "554 5.4.6 Message rejected: too many Received: header fields (51, at most 50): "
              "mail loop?\r\n");
    EXPECT_EQ(message_count(), "0");
    // Fifty hops are still within the limit.
    const auto at_limit = transaction(
        *c, "app@shop.example",
        trace.substr(trace.find("Received: from hop1.")) + "From: info@shop.example\r\n\r\nhi");
    EXPECT_TRUE(starts_with(at_limit, "250 2.0.0")) << at_limit;
    EXPECT_EQ(message_count(), "1");
}

// Issue 11 point 12: the From: field was cut at 998 octets before it was checked, so an
// address behind the cut was never authorized.
TEST_F(Policy, AnAuthorFieldTooLongToCheckIsRefusedNotCut) {
    // Empty list elements (RFC 5322 section 4.4) across the 998th octet: the cut value was
    // a valid list holding only info@shop.example, and the message went out as the bank.
    const std::string from = "From: info@shop.example,\r\n " + std::string(500, ',') + "\r\n " +
                             std::string(600, ',') + "\r\n CEO <ceo@bank.example>\r\n";
    auto c = client();
    const auto done = transaction(*c, "app@shop.example", from + "Subject: pay\r\n\r\nhi");
    EXPECT_EQ(done,
              "550 5.7.1 Message rejected: From: header field longer than 998 octets; it cannot "
              "be checked against the account's sender domains\r\n");
    EXPECT_EQ(message_count(), "0");
}

TEST_F(Policy, SenderAndResentAuthorsOfAnotherDomainAreRefusedWith550) {
    auto c = client();
    for (const std::string field : {"Sender", "Resent-From", "Resent-Sender"}) {
        const auto done = transaction(*c, "app@shop.example",
                                      "From: info@shop.example\r\n" + field +
                                          ": Bank <ceo@bank.example>\r\nSubject: pay\r\n\r\nhi");
        EXPECT_EQ(done, "550 5.7.1 Message rejected: " + field +
                            ": header domain bank.example is not a verified sender domain of "
                            "account shop\r\n");
    }
    EXPECT_EQ(message_count(), "0");
    const auto own = transaction(*c, "app@shop.example",
                                 "From: info@shop.example\r\nSender: app@shop.example\r\n"
                                 "Resent-From: desk@brand.example\r\n\r\nhi");
    EXPECT_TRUE(starts_with(own, "250 2.0.0")) << own;
    EXPECT_EQ(message_count(), "1");
}

TEST_F(Policy, PipelinedRepliesKeepTheirOrderAroundPolicyChecks) {
    db_.exec("INSERT INTO suppressions (account_id, address) VALUES ($1, 'gone@example.org')",
             account_id_);
    auto c = client();
    c->send(
        "MAIL FROM:<app@shop.example>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<gone@example.org>\r\n"
        "RCPT TO:<b@example.org>\r\nDATA\r\n");
    EXPECT_TRUE(starts_with(c->reply(), "250 2.1.0"));
    EXPECT_TRUE(starts_with(c->reply(), "250 2.1.5"));
    EXPECT_TRUE(starts_with(c->reply(), "550 5.1.1"));
    EXPECT_TRUE(starts_with(c->reply(), "250 2.1.5"));
    EXPECT_EQ(reply_code(c->reply()), 354);
    c->send("From: app@shop.example\r\n\r\nhi\r\n.\r\nQUIT\r\n");
    EXPECT_TRUE(starts_with(c->reply(), "250 2.0.0"));
    EXPECT_EQ(reply_code(c->reply()), 221);
    EXPECT_EQ(*db_.exec("SELECT count(*) FROM recipients").at(0).at(0), "2");
}

TEST_F(Policy, AuthenticatedClientIsJudgedByItsCredentialsAccount) {
    const auto set = server_.subcommand({"credential", "set", "--account", "shop", "--username",
                                         k_username, "--password", k_password});
    ASSERT_EQ(set.exit_code, 0) << set.output;
    const auto server = "127.0.0.1:" + std::to_string(server_.port("submission"));
    const auto ok =
        swaks({"--server", server, "--auth", "PLAIN", "--auth-user", k_username, "--auth-password",
               k_password, "--from", "app@shop.example", "--to", "someone@example.org"});
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_FALSE(queued_id(ok.output).empty()) << ok.output;
    const auto spoofed = swaks({"--server", server, "--auth", "PLAIN", "--auth-user", k_username,
                                "--auth-password", k_password, "--from", "app@shop.example", "--to",
                                "someone@example.org", "--header", "From: ceo@bank.example"});
    EXPECT_NE(spoofed.exit_code, 0);
    EXPECT_NE(spoofed.output.find("<** 550 5.7.1 Message rejected: From: header domain "
                                  "bank.example"),
              std::string::npos)
        << spoofed.output;
    EXPECT_EQ(message_count(), "1");
}

// With the default cache a suspension reaches a running relay within seconds.
class PolicyDefaultCache : public Policy {
  protected:
    PolicyDefaultCache() : Policy("") {}
};

TEST_F(PolicyDefaultCache, SuspensionTakesEffectWithinTheAccountCacheTime) {
    {
        auto c = client();
        const auto done = transaction(*c, "app@shop.example", "From: app@shop.example\r\n\r\nhi");
        ASSERT_TRUE(starts_with(done, "250 2.0.0")) << done;
    }
    db_.exec("UPDATE accounts SET status = 'suspended' WHERE id = $1", account_id_);
    const auto suspended_at = std::chrono::steady_clock::now();
    std::string reply;
    while (std::chrono::steady_clock::now() - suspended_at < 15s) {
        auto c = client();
        reply = c->command("MAIL FROM:<app@shop.example>");
        if (!starts_with(reply, "250")) break;
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(reply, "550 5.7.1 Account shop is suspended\r\n");
    EXPECT_LT(std::chrono::steady_clock::now() - suspended_at, 7s);
}

class PolicyWithoutVerification : public Policy {
  protected:
    PolicyWithoutVerification() : Policy("sender_domain_verification = false\n") {}
};

TEST_F(PolicyWithoutVerification, PendingDomainsAuthorizeButForeignOnesStillDoNot) {
    auto c = client();
    const auto done = transaction(*c, "a@pending.example", "From: a@pending.example\r\n\r\nhi");
    EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    EXPECT_TRUE(starts_with(c->command("MAIL FROM:<ceo@bank.example>"), "553 5.7.1"));
}

// Rate limits: [limits] defaults, an account's own column winning over them.
class PolicyWithLimits : public Policy {
  protected:
    PolicyWithLimits() : Policy("account_cache_ms = 0\n[limits]\nmessages_per_hour = 3\n") {}
};

TEST_F(PolicyWithLimits, MessagesPastTheHourlyLimitGet451NamingTheLimit) {
    auto c = client();
    for (int i = 0; i < 3; ++i) {
        const auto done = transaction(*c, "app@shop.example", "From: app@shop.example\r\n\r\nhi");
        ASSERT_TRUE(starts_with(done, "250 2.0.0")) << done;
    }
    const auto refused = c->command("MAIL FROM:<app@shop.example>");
    EXPECT_TRUE(starts_with(refused,
                            "451 4.7.1 Account limit messages_per_hour (3) reached, try again "
                            "after "))
        << refused;
    EXPECT_EQ(message_count(), "3");
    // The refusal is in the account's statistics (GET /api/v1/accounts/{id}/stats).
    EXPECT_EQ(*db_.exec("SELECT count(*) FROM rejections WHERE account_id = $1 AND reason = "
                        "'rate_limit:messages_per_hour'",
                        account_id_)
                   .at(0)
                   .at(0),
              "1");
    EXPECT_EQ(*db_.exec("SELECT leased FROM rate_usage WHERE limit_name = 'messages_per_hour'")
                   .at(0)
                   .at(0),
              "3");
}

TEST_F(PolicyWithLimits, AnAccountsOwnRecipientLimitWinsOverTheDefault) {
    db_.exec("UPDATE accounts SET recipients_per_hour = 2 WHERE id = $1", account_id_);
    auto c = client();
    EXPECT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<one@example.org>")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<two@example.org>")), 250);
    const auto refused = c->command("RCPT TO:<three@example.org>");
    EXPECT_TRUE(starts_with(refused, "451 4.7.1 Account limit recipients_per_hour (2) reached"))
        << refused;
    // The two accepted recipients still go out.
    EXPECT_EQ(reply_code(c->command("DATA")), 354);
    const auto done = c->command("From: app@shop.example\r\n\r\nhi\r\n.");
    EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    EXPECT_EQ(*db_.exec("SELECT count(*) FROM recipients").at(0).at(0), "2");
}

TEST_F(PolicyWithLimits, AnAccountsRecipientsPerMessageAndSizeLimitsApply) {
    db_.exec(
        "UPDATE accounts SET recipients_per_message = 2, max_message_bytes = 2000 WHERE id = "
        "$1",
        account_id_);
    auto c = client();
    // RFC 1870: a declared size over the account's limit is refused at MAIL.
    EXPECT_EQ(c->command("MAIL FROM:<app@shop.example> SIZE=5000"),
              "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example> SIZE=500")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<one@example.org>")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<two@example.org>")), 250);
    EXPECT_TRUE(starts_with(c->command("RCPT TO:<three@example.org>"), "452 4.5.3"));
    EXPECT_EQ(reply_code(c->command("DATA")), 354);
    // Declared small, sent large: refused after the final dot.
    std::string body = "From: app@shop.example\r\n\r\n";
    for (int line = 0; line < 30; ++line)
        body += std::string(100, 'x') + "\r\n";
    const auto done = c->command(body + ".");
    EXPECT_TRUE(starts_with(done, "552 5.3.4")) << done;
    EXPECT_EQ(message_count(), "0");
    EXPECT_EQ(*db_.exec("SELECT string_agg(reason, ',' ORDER BY id) FROM rejections WHERE "
                        "account_id = $1",
                        account_id_)
                   .at(0)
                   .at(0),
              "message_size,recipients_per_message,message_size");
}

class PolicyBouncingSuppressed : public Policy {
  protected:
    PolicyBouncingSuppressed()
        : Policy("account_cache_ms = 0\nsuppressed_recipients = \"bounce\"\n") {}
};

TEST_F(PolicyBouncingSuppressed, SuppressedRecipientIsAcceptedStoredBouncedAndReported) {
    db_.exec("INSERT INTO suppressions (account_id, address) VALUES ($1, 'gone@example.org')",
             account_id_);
    auto c = client();
    ASSERT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    EXPECT_TRUE(starts_with(c->command("RCPT TO:<gone@example.org>"), "250 2.1.5"));
    EXPECT_TRUE(starts_with(c->command("RCPT TO:<here@example.org>"), "250 2.1.5"));
    ASSERT_EQ(reply_code(c->command("DATA")), 354);
    const auto done = c->command("From: app@shop.example\r\nSubject: news\r\n\r\nhi\r\n.");
    const auto id = queued_id(done);
    ASSERT_FALSE(id.empty()) << done;

    const auto recipients = db_.exec(
        "SELECT address, state, last_reply FROM recipients WHERE message_id = $1::uuid "
        "ORDER BY address",
        id);
    ASSERT_EQ(recipients.size(), 2u);
    EXPECT_EQ(recipients[0][0], "gone@example.org");
    EXPECT_EQ(recipients[0][1], "bounced");
    EXPECT_EQ(recipients[0][2],
              "550 5.1.1 Recipient <gone@example.org> is suppressed for this account (an earlier "
              "hard bounce)");
    EXPECT_EQ(recipients[1][0], "here@example.org");
    EXPECT_EQ(recipients[1][1], "queued");

    // The report goes to the sender from the null sender, under the same account.
    const auto reports = db_.exec(
        "SELECT m.account_id, r.address, r.state, convert_from(m.body, 'UTF8') FROM messages m "
        "JOIN recipients r ON r.message_id = m.id WHERE m.envelope_sender = ''");
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0][0], std::to_string(account_id_));
    EXPECT_EQ(reports[0][1], "app@shop.example");
    EXPECT_EQ(reports[0][2], "queued");
    const auto& body = *reports[0][3];
    EXPECT_NE(body.find("multipart/report"), std::string::npos) << body;
    EXPECT_NE(body.find("Status: 5.1.1"), std::string::npos) << body;
    EXPECT_NE(body.find("Final-Recipient: rfc822;gone@example.org"), std::string::npos) << body;
    EXPECT_EQ(body.find("Final-Recipient: rfc822;here@example.org"), std::string::npos) << body;
}

// The delivery role re-checks sender domains: a pending domain whose TXT record is
// published becomes verified and then authorizes; one without the record stays pending.
TEST(PolicyVerification, DeliveryRoleVerifiesPendingDomainsFromDns) {
    constexpr const char* token = "9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
    test::TestDatabase db;
    const auto account = db.create_account("shop");
    const auto published = db.add_sender_domain(account, "shop.test", "pending", false, token);
    const auto unpublished = db.add_sender_domain(account, "other.test", "pending", false, token);
    db.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, '127.0.0.2/32')",
            account);
    test::Dnsmasq dns({test::DnsRecord::txt("_smarthost.shop.test",
                                            {std::string("smarthost-verification=") + token})});

    ServerOptions options;
    options.listeners = {{"submission", "none", true}};
    options.roles = "smtp,delivery";
    options.extra_toml = "[delivery]\ndns_forwarders = [\"" + dns.forwarder() +
                         "\"]\ndns_timeout_ms = 3000\n[policy]\naccount_cache_ms = 0\n";
    SmarthostServer server(db.url(), options);

    auto status_of = [&](std::int64_t id) {
        return *db.exec("SELECT status FROM sender_domains WHERE id = $1", id).at(0).at(0);
    };
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (status_of(published) != "verified" && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(100ms);
    ASSERT_EQ(status_of(published), "verified") << server.log();
    EXPECT_EQ(status_of(unpublished), "pending");
    EXPECT_EQ(*db.exec("SELECT checked_at IS NOT NULL AND verified_at IS NOT NULL FROM "
                       "sender_domains WHERE id = $1",
                       published)
                   .at(0)
                   .at(0),
              "t");

    RawSmtpClient client(server.port("submission"), "127.0.0.2");
    client.reply();
    client.command("EHLO app.shop.test");
    EXPECT_EQ(reply_code(client.command("MAIL FROM:<app@shop.test>")), 250);
    client.command("RSET");
    const auto refused = client.command("MAIL FROM:<app@other.test>");
    EXPECT_TRUE(starts_with(refused, "553 5.7.1")) << refused;
}

}  // namespace
}  // namespace smarthost::e2e
