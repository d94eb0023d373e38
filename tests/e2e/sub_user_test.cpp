// Sub-users and credential limits end to end (docs/policy.md "Credential limits",
// "Sub-users"): the real binary, clients that log in over plain SMTP (tests only), and
// postfix's smtp-sink receiving what the delivery role sends. Assertions are on replies,
// rows and delivered bytes.

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "core/crypto.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using test::DnsRecord;

constexpr const char* k_panel = "panel@shop.example";  // the hosting server's credential
constexpr const char* k_app = "app@shop.example";      // a second credential of the account
constexpr const char* k_password = "sub-user test password";

class SubUsers : public ::testing::Test {
  protected:
    void SetUp() override {
        account_id_ = db_.create_account("shop");
        db_.add_sender_domain(account_id_, "shop.example");
        panel_ = add_credential(k_panel);
        add_credential(k_app);
    }

    void TearDown() override {
        if (HasFailure() && server_) std::cerr << "---- smarthost log ----\n" << server_->log();
    }

    std::int64_t add_credential(const std::string& username) {
        return std::stoll(*db_.exec("INSERT INTO credentials (account_id, username, secret_hash) "
                                    "VALUES ($1, $2, $3) RETURNING id",
                                    account_id_, username, crypto::hash_password(k_password))
                               .at(0)
                               .at(0));
    }

    // Only the smtp role, or with `deliver` the delivery role too: dest.test's MX is
    // smtp-sink on 127.0.0.3, found through dnsmasq.
    void start(bool deliver = false) {
        ServerOptions options;
        options.listeners = {{"submission", "none", false}};
        options.allow_auth_without_tls = true;
        options.extra_toml = "[policy]\naccount_cache_ms = 0\n";
        if (deliver) {
            const auto mx_port = free_port();
            dns_ = std::make_unique<test::Dnsmasq>(
                std::vector<DnsRecord>{DnsRecord::mx("dest.test", 10, "mx.dest.test"),
                                       DnsRecord::address("mx.dest.test", "127.0.0.3")});
            sink_ = std::make_unique<test::SmtpSink>("127.0.0.3", mx_port);
            options.roles = "smtp,delivery";
            options.extra_toml += "[delivery]\nmx_port = " + std::to_string(mx_port) +
                                  "\nallow_destination_networks = [\"127.0.0.0/8\"]\n"
                                  "dns_forwarders = [\"" +
                                  dns_->forwarder() + "\"]\nipv6 = false\npoll_seconds = 1\n";
        }
        server_ = std::make_unique<SmarthostServer>(db_.url(), options);
    }

    void enable_header(bool strip = true) {
        db_.exec(
            "UPDATE accounts SET sub_user_header = 'X-AuthUser', sub_user_header_strip = $2 "
            "WHERE id = $1",
            account_id_, strip);
    }

    // A logged-in client, past EHLO and AUTH.
    std::unique_ptr<RawSmtpClient> client(const std::string& username) {
        auto c = std::make_unique<RawSmtpClient>(server_->port("submission"));
        EXPECT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO web1.shop.example")), 250);
        EXPECT_EQ(reply_code(c->command(auth_plain(username, k_password))), 235);
        return c;
    }

    // One transaction; the reply to MAIL when it is refused, else the reply to the dot.
    static std::string send(RawSmtpClient& c, const std::string& header_fields,
                            const std::string& subject = "hello") {
        auto mail = c.command("MAIL FROM:<www@shop.example>");
        if (reply_code(mail) != 250) return mail;
        EXPECT_EQ(reply_code(c.command("RCPT TO:<bob@dest.test>")), 250);
        EXPECT_EQ(reply_code(c.command("DATA")), 354);
        return c.command("From: www@shop.example\r\nTo: bob@dest.test\r\nSubject: " + subject +
                         "\r\n" + header_fields + "\r\nHello.\r\n.");
    }

    std::string scalar(const std::string& sql) {
        return db_.exec(sql).at(0).at(0).value_or("NULL");
    }

    test::TestDatabase db_;
    std::unique_ptr<test::Dnsmasq> dns_;
    std::unique_ptr<test::SmtpSink> sink_;
    std::unique_ptr<SmarthostServer> server_;
    std::int64_t account_id_ = 0;
    std::int64_t panel_ = 0;
};

TEST_F(SubUsers, OneSubUserHitsItsLimitWhileAnotherOverTheSameCredentialKeepsSending) {
    enable_header();
    db_.exec("UPDATE accounts SET sub_user_messages_per_hour = 2 WHERE id = $1", account_id_);
    start();
    auto c = client(k_panel);
    for (int i = 0; i < 2; ++i) {
        const auto done = send(*c, "X-AuthUser: Blog1\r\n");
        ASSERT_TRUE(starts_with(done, "250 2.0.0")) << done;
    }
    const auto refused = send(*c, "X-AuthUser:  blog1 \r\n");
    EXPECT_TRUE(starts_with(refused,
                            "451 4.7.1 Sub-user blog1 limit messages_per_hour (2) reached, try "
                            "again after "))
        << refused;
    for (int i = 0; i < 2; ++i) {
        const auto done = send(*c, "X-AuthUser: shop2\r\n");
        EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    }
    // A message without the header has no sub-user: only the account's limits apply.
    EXPECT_TRUE(starts_with(send(*c, ""), "250 2.0.0"));
    EXPECT_EQ(scalar("SELECT string_agg(coalesce(sub_user, '-'), ',' ORDER BY sub_user) "
                     "FROM messages"),
              "blog1,blog1,shop2,shop2,-");
    EXPECT_EQ(
        scalar("SELECT count(*) FROM messages WHERE credential_id = " + std::to_string(panel_)),
        "5");
    EXPECT_EQ(scalar("SELECT count(*) FROM rejections WHERE reason = "
                     "'rate_limit:sub_user:messages_per_hour'"),
              "1");
}

// The same with swaks, as a panel's MTA would submit: AUTH, the header among the others.
TEST_F(SubUsers, SwaksSubmissionsAreKeyedOnTheHeaderAndLimitedPerSubUser) {
    enable_header();
    db_.exec("UPDATE accounts SET sub_user_messages_per_hour = 1 WHERE id = $1", account_id_);
    start();
    const auto submit = [&](const std::string& sub_user) {
        return swaks({"--server", "127.0.0.1:" + std::to_string(server_->port("submission")),
                      "--auth", "PLAIN", "--auth-user", k_panel, "--auth-password", k_password,
                      "--from", "www@shop.example", "--to", "bob@dest.test", "--header",
                      "From: www@shop.example", "--header", "X-AuthUser: " + sub_user});
    };
    const auto first = submit("Blog1");
    EXPECT_FALSE(queued_id(first.output).empty()) << first.output;
    const auto second = submit("blog1");
    EXPECT_NE(second.output.find("451 4.7.1 Sub-user blog1 limit messages_per_hour (1)"),
              std::string::npos)
        << second.output;
    const auto other = submit("shop2");
    EXPECT_FALSE(queued_id(other.output).empty()) << other.output;
    EXPECT_EQ(scalar("SELECT string_agg(sub_user, ',' ORDER BY sub_user) FROM messages"),
              "blog1,shop2");
}

TEST_F(SubUsers, TheHeaderIsRemovedBeforeDeliveryAndTheRestArrivesByteForByte) {
    enable_header();
    start(true);
    auto c = client(k_panel);
    const auto done = send(*c, "X-AuthUser: blog1\r\n\tcontinued\r\nX-Other: kept\r\n", "strip");
    // Folded into two words: not a sub-user name.
    EXPECT_TRUE(starts_with(done, "554 5.6.0 X-AuthUser header is not a sub-user name")) << done;
    const auto accepted = send(*c, "X-AuthUser:\r\n blog1\r\nX-Other: kept\r\n", "strip");
    ASSERT_TRUE(starts_with(accepted, "250 2.0.0")) << accepted;
    ASSERT_TRUE(wait_until(
        "smtp-sink received the message", [&] { return !sink_->dumps().empty(); }, 30s));
    const auto dump = sink_->dumps().front();
    EXPECT_EQ(dump.find("X-AuthUser"), std::string::npos) << dump;
    EXPECT_NE(dump.find("Subject: strip\nX-Other: kept\n\nHello.\n"), std::string::npos) << dump;
    EXPECT_EQ(scalar("SELECT sub_user FROM messages"), "blog1");
    EXPECT_EQ(scalar("SELECT position('X-AuthUser' in convert_from(body, 'UTF8')) FROM messages"),
              "0");
}

TEST_F(SubUsers, WithStrippingOffTheHeaderIsDeliveredAsSent) {
    enable_header(false);
    start();
    auto c = client(k_panel);
    ASSERT_TRUE(starts_with(send(*c, "X-AuthUser: Blog1\r\n"), "250 2.0.0"));
    EXPECT_EQ(scalar("SELECT sub_user FROM messages"), "blog1");
    EXPECT_NE(scalar("SELECT position('X-AuthUser: Blog1' in convert_from(body, 'UTF8')) "
                     "FROM messages"),
              "0");
}

TEST_F(SubUsers, AnAccountWithoutTheSettingHasTheHeaderTreatedAsAnOrdinaryField) {
    db_.exec("UPDATE accounts SET sub_user_messages_per_hour = 1 WHERE id = $1", account_id_);
    start();
    auto c = client(k_panel);
    // Repeated, or of any value: nothing is refused, keyed or removed.
    for (int i = 0; i < 3; ++i) {
        const auto done = send(*c, "X-AuthUser: blog1\r\nX-AuthUser: =?utf-8?q?x?=\r\n");
        EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    }
    EXPECT_EQ(scalar("SELECT count(*) FROM messages WHERE sub_user IS NULL AND "
                     "position('X-AuthUser: blog1' in convert_from(body, 'UTF8')) > 0"),
              "3");
    EXPECT_EQ(scalar("SELECT count(*) FROM rate_usage WHERE scope <> ''"), "0");
}

TEST_F(SubUsers, ASecondHeaderOrOneInABodyPartCannotNameAnotherSubUser) {
    enable_header();
    db_.exec("UPDATE accounts SET sub_user_messages_per_hour = 1 WHERE id = $1", account_id_);
    start();
    auto c = client(k_panel);
    ASSERT_TRUE(starts_with(send(*c, "X-AuthUser: blog1\r\n"), "250 2.0.0"));
    // A site adding its own header next to the panel's to pass as another sub-user.
    const auto twice = send(*c, "X-AuthUser: blog1\r\nX-AuthUser: victim\r\n");
    EXPECT_TRUE(starts_with(twice, "554 5.6.0 X-AuthUser header occurs more than once")) << twice;
    // In a MIME part the field is body text: the message is blog1's, which is at its limit.
    const auto in_part =
        send(*c,
             "X-AuthUser: blog1\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
             "X-AuthUser: victim\r\n\r\ntext\r\n--b--\r\n");
    EXPECT_TRUE(starts_with(in_part, "451 4.7.1 Sub-user blog1 limit")) << in_part;
    EXPECT_EQ(scalar("SELECT count(*) FROM messages"), "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM rejections WHERE reason = 'sub_user_header'"), "1");
}

TEST_F(SubUsers, ManyDistinctSubUsersCannotGrowTheQuotaRowsPastMaxSubUsers) {
    enable_header();
    db_.exec("UPDATE accounts SET sub_user_messages_per_day = 100, max_sub_users = 3 WHERE id = $1",
             account_id_);
    start();
    auto c = client(k_panel);
    for (int i = 0; i < 3; ++i) {
        const auto done = send(*c, "X-AuthUser: site" + std::to_string(i) + "\r\n");
        ASSERT_TRUE(starts_with(done, "250 2.0.0")) << done;
    }
    const auto fourth = send(*c, "X-AuthUser: site3\r\n");
    EXPECT_TRUE(starts_with(fourth,
                            "451 4.7.1 Account shop has 3 sub-users under limit "
                            "messages_per_day already (max_sub_users)"))
        << fourth;
    // Sub-users that already hold quota keep sending.
    EXPECT_TRUE(starts_with(send(*c, "X-AuthUser: site0\r\n"), "250 2.0.0"));
    EXPECT_EQ(scalar("SELECT count(*) FROM rate_usage WHERE starts_with(scope, 'sub_user:')"), "3");
}

TEST_F(SubUsers, ACredentialsOwnLimitHoldsWhileTheAccountsOtherCredentialKeepsSending) {
    db_.exec("UPDATE credentials SET messages_per_hour = 2 WHERE id = $1", panel_);
    start();
    auto panel = client(k_panel);
    for (int i = 0; i < 2; ++i)
        ASSERT_TRUE(starts_with(send(*panel, ""), "250 2.0.0"));
    const auto refused = send(*panel, "");
    EXPECT_TRUE(starts_with(refused,
                            "451 4.7.1 Credential panel@shop.example limit messages_per_hour (2) "
                            "reached, try again after "))
        << refused;
    auto app = client(k_app);
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(starts_with(send(*app, ""), "250 2.0.0"));
    EXPECT_EQ(scalar("SELECT count(*) FROM rejections WHERE reason = "
                     "'rate_limit:credential:messages_per_hour'"),
              "1");
}

TEST_F(SubUsers, ACredentialsRecipientLimitIsTakenAtRcpt) {
    db_.exec("UPDATE credentials SET recipients_per_hour = 2 WHERE id = $1", panel_);
    start();
    auto c = client(k_panel);
    ASSERT_EQ(reply_code(c->command("MAIL FROM:<www@shop.example>")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<a@dest.test>")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<b@dest.test>")), 250);
    const auto third = c->command("RCPT TO:<c@dest.test>");
    EXPECT_TRUE(
        starts_with(third, "451 4.7.1 Credential panel@shop.example limit recipients_per_hour"))
        << third;
}

}  // namespace
}  // namespace smarthost::e2e
