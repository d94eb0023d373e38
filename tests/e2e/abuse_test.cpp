// End to end: DNS blocklists (client address at connect, sender domain at MAIL) and
// failed-AUTH throttling (docs/policy.md) with the real binary, a real DNS server
// (dnsmasq with fixture zones) and clients bound to 127.0.0.x / ::1 source addresses.

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <istream>
#include <thread>

#include "tests/e2e/harness.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using test::DnsRecord;

constexpr const char* k_username = "app@shop.example";
constexpr const char* k_password = "abuse test password";

// ::1 in reversed nibbles (RFC 5782 section 2.4).
std::string reversed_ipv6_loopback() {
    std::string name = "1";
    for (int i = 0; i < 31; ++i)
        name += ".0";
    return name;
}

std::vector<DnsRecord> fixture_zones() {
    return {
        DnsRecord::address(reversed_ipv6_loopback() + ".bl.test", "127.0.0.2"),
        // bl.test (reject): 127.0.0.2 listed; 127.0.0.5 answers outside the zone's
        // listed_answers, so it is not listed.
        DnsRecord::address("2.0.0.127.bl.test", "127.0.0.2"),
        DnsRecord::address("5.0.0.127.bl.test", "127.0.0.9"),
        DnsRecord::address("3.0.0.127.tf.test", "127.0.0.2"),   // tempfail
        DnsRecord::address("4.0.0.127.tag.test", "127.0.0.4"),  // tag, auth_suspicious
        DnsRecord::address("9.0.0.127.bl.test", "127.0.0.2"),   // but 127.0.0.9 is exempt
        DnsRecord::unanswered("slow.test"),                     // never answers
        DnsRecord::address("spam.example.dbl.test", "127.0.1.2"),
    };
}

std::string blocklist_toml(const test::Dnsmasq& dns, const std::string& delivery_toml = "") {
    return "[delivery]\ndns_forwarders = [\"" + dns.forwarder() + "\"]\n" + delivery_toml +
           "[policy]\naccount_cache_ms = 0\n"
           "dnsbl_exempt_networks = [\"127.0.0.9/32\"]\n"
           "[[policy.dnsbl]]\nzone = \"bl.test\"\naction = \"reject\"\n"
           "listed_answers = [\"127.0.0.2\"]\n"
           "lookup_url = \"https://bl.test/lookup?ip={ip}\"\n"
           "[[policy.dnsbl]]\nzone = \"tf.test\"\naction = \"tempfail\"\n"
           "[[policy.dnsbl]]\nzone = \"tag.test\"\naction = \"tag\"\nauth_suspicious = true\n"
           "[[policy.dnsbl]]\nzone = \"slow.test\"\naction = \"reject\"\ntimeout_ms = 300\n"
           "[[policy.domain_blocklist]]\nzone = \"dbl.test\"\naction = \"reject\"\n"
           "lookup_url = \"https://dbl.test/{domain}\"\n";
}

ServerOptions abuse_options(const test::Dnsmasq& dns) {
    ServerOptions options;
    options.listeners = {{"submission", "none", false}};
    options.allow_auth_without_tls = true;
    options.auth_toml =
        "max_failures = 3\nmax_network_failures = 3\nusername_alert_failures = 3\n"
        "failure_window_seconds = 600\nlockout_seconds = 3\n";
    options.extra_toml = blocklist_toml(dns);
    return options;
}

class Abuse : public ::testing::Test {
  protected:
    Abuse() : dns_(fixture_zones()), server_(db_.url(), abuse_options(dns_)) {}

    void SetUp() override {
        account_id_ = db_.create_account("shop");
        db_.add_sender_domain(account_id_, "shop.example");
        db_.add_sender_domain(account_id_, "spam.example");
        const auto result =
            server_.subcommand({"credential", "set", "--account", "shop", "--username", k_username,
                                "--password", k_password});
        ASSERT_EQ(result.exit_code, 0) << result.output;
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "---- smarthost log ----\n" << server_.log() << '\n';
    }

    std::unique_ptr<RawSmtpClient> connect(const std::string& from, SmarthostServer& server) {
        return std::make_unique<RawSmtpClient>(server.port("submission"), from);
    }
    std::unique_ptr<RawSmtpClient> connect(const std::string& from) {
        return connect(from, server_);
    }

    // Connected from `from`, greeted, past EHLO and AUTH.
    std::unique_ptr<RawSmtpClient> logged_in(const std::string& from) {
        auto c = connect(from);
        EXPECT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO app.shop.example")), 250);
        EXPECT_EQ(reply_code(c->command(auth_plain(k_username, k_password))), 235);
        return c;
    }

    std::string scalar(const std::string& sql) { return *db_.exec(sql).at(0).at(0); }

    // Waits until `sql` answers `expected` (rows the server writes after its reply).
    testing::AssertionResult eventually(const std::string& sql, const std::string& expected) {
        return wait_until(sql + " answers " + expected, [&] { return scalar(sql) == expected; });
    }

    test::TestDatabase db_;
    test::Dnsmasq dns_;
    SmarthostServer server_;
    std::int64_t account_id_ = 0;
};

TEST_F(Abuse, ListedClientGets554GreetingThen503UntilQuit) {
    auto c = connect("127.0.0.2");
    EXPECT_EQ(c->reply(),
              "554 5.7.1 Client address 127.0.0.2 is listed in bl.test: see "
              "https://bl.test/lookup?ip=127.0.0.2\r\n");
    EXPECT_EQ(c->command("EHLO app.shop.example"),
              "503 5.7.1 No SMTP service for 127.0.0.2 here; send QUIT\r\n");
    EXPECT_TRUE(starts_with(c->command("MAIL FROM:<app@shop.example>"), "503 5.7.1"));
    EXPECT_TRUE(starts_with(c->command("QUIT"), "221 2.0.0"));
    EXPECT_TRUE(c->closed());
    // Not identified at connect: recorded without an account.
    EXPECT_TRUE(eventually(
        "SELECT count(*) FROM rejections WHERE reason = 'dnsbl' AND account_id IS NULL", "1"));
}

TEST_F(Abuse, RefusalOfAnAllowListedNetworkIsRecordedForItsAccount) {
    db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, '127.0.0.2/32')",
             account_id_);
    auto options = abuse_options(dns_);
    options.listeners = {{"submission", "none", true}};
    SmarthostServer allowing(db_.url(), options);
    auto c = connect("127.0.0.2", allowing);
    EXPECT_TRUE(starts_with(c->reply(), "554 5.7.1 Client address 127.0.0.2 is listed"));
    EXPECT_TRUE(
        eventually("SELECT count(*) FROM rejections WHERE reason = 'dnsbl' AND account_id = " +
                       std::to_string(account_id_),
                   "1"));
}

TEST_F(Abuse, AnswerOutsideListedAnswersAndExemptNetworksAreNotListed) {
    auto c = connect("127.0.0.5");
    EXPECT_TRUE(starts_with(c->reply(), "220 ")) << "127.0.0.5 answers 127.0.0.9";
    auto exempt = connect("127.0.0.9");
    EXPECT_TRUE(starts_with(exempt->reply(), "220 "));
}

TEST_F(Abuse, TempfailZoneAnswersMailWith451) {
    auto c = logged_in("127.0.0.3");
    EXPECT_EQ(c->command("MAIL FROM:<app@shop.example>"),
              "451 4.7.1 Client address 127.0.0.3 is listed in tf.test\r\n");
    EXPECT_EQ(scalar("SELECT count(*) FROM messages"), "0");
    EXPECT_TRUE(
        eventually("SELECT count(*) FROM rejections WHERE reason = 'dnsbl' AND account_id = " +
                       std::to_string(account_id_),
                   "1"));
}

TEST_F(Abuse, TagZoneAddsHeaderAndRecordsSuspiciousLogin) {
    auto c = logged_in("127.0.0.4");
    EXPECT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<someone@example.org>")), 250);
    EXPECT_EQ(reply_code(c->command("DATA")), 354);
    const auto done = c->command("From: app@shop.example\r\n\r\nhi\r\n.");
    EXPECT_TRUE(starts_with(done, "250 2.0.0")) << done;
    const auto body = scalar("SELECT convert_from(body, 'UTF8') FROM messages");
    EXPECT_NE(body.find("\r\nX-Smarthost-DNSBL: tag.test=127.0.0.4\r\nFrom: app@shop.example"),
              std::string::npos)
        << body;
    const auto rows = db_.exec(
        "SELECT account_id, username, host(client_ip), zones::text FROM auth_suspicious_logins");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], std::to_string(account_id_));
    EXPECT_EQ(*rows[0][1], k_username);
    EXPECT_EQ(*rows[0][2], "127.0.0.4");
    EXPECT_EQ(*rows[0][3], "{tag.test}");
}

TEST_F(Abuse, ZoneThatTimesOutFailsOpen) {
    // slow.test never answers: 127.0.0.6 is listed nowhere and must still be served,
    // after about the zone's 300 ms deadline.
    const auto started = std::chrono::steady_clock::now();
    auto c = logged_in("127.0.0.6");
    EXPECT_GE(std::chrono::steady_clock::now() - started, 250ms);
    EXPECT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    EXPECT_EQ(scalar("SELECT count(*) FROM auth_suspicious_logins"), "0");
}

TEST_F(Abuse, ListedSenderDomainIsRefusedAtMailWith550) {
    auto c = logged_in("127.0.0.6");
    EXPECT_EQ(c->command("MAIL FROM:<news@spam.example>"),
              "550 5.7.1 Sender domain spam.example is listed in dbl.test: see "
              "https://dbl.test/spam.example\r\n");
    EXPECT_EQ(reply_code(c->command("MAIL FROM:<news@shop.example>")), 250);
    EXPECT_TRUE(eventually(
        "SELECT count(*) FROM rejections WHERE reason = 'domain_blocklist' AND account_id = " +
            std::to_string(account_id_),
        "1"));
}

TEST_F(Abuse, DeliveryRoleRecordsTheListingsOfItsSourceAddress) {
    auto options = abuse_options(dns_);
    options.roles = "smtp,delivery";
    options.extra_toml = blocklist_toml(dns_, "source_address = \"127.0.0.2\"\n");
    SmarthostServer delivery(db_.url(), options);
    std::vector<test::TestDatabase::Row> rows;
    for (int i = 0; i < 100 && rows.size() < 3; ++i) {
        std::this_thread::sleep_for(100ms);
        rows = db_.exec(
            "SELECT zone, listed, answer FROM outbound_listings "
            "WHERE source_address = '127.0.0.2' ORDER BY zone");
    }
    // slow.test never answers: no row rather than a false "not listed".
    ASSERT_EQ(rows.size(), 3u) << delivery.log();
    EXPECT_EQ(*rows[0][0], "bl.test");
    EXPECT_EQ(*rows[0][1], "t");
    EXPECT_EQ(*rows[0][2], "127.0.0.2");
    EXPECT_EQ(*rows[1][0], "tag.test");
    EXPECT_EQ(*rows[1][1], "f");
    EXPECT_FALSE(rows[1][2].has_value());
    EXPECT_EQ(*rows[2][0], "tf.test");
    EXPECT_EQ(*rows[2][1], "f");
}

// --- SIGHUP: the zones change without a restart -----------------------------------------

// Whether a new connection from `from` is greeted with `code`, within the deadline: the
// server applies SIGHUP between the events it handles, a moment after the signal.
testing::AssertionResult greeted_with(const SmarthostServer& server, const std::string& from,
                                      int code) {
    return wait_until("a connection from " + from + " greeted with " + std::to_string(code), [&] {
        RawSmtpClient c(server.port("submission"), from);
        return reply_code(c.reply()) == code;
    });
}

TEST_F(Abuse, SighupAddsAndRemovesAClientZone) {
    auto options = abuse_options(dns_);
    options.extra_toml = "[delivery]\ndns_forwarders = [\"" + dns_.forwarder() +
                         "\"]\n[policy]\naccount_cache_ms = 0\n";
    SmarthostServer server(db_.url(), options);
    {
        RawSmtpClient unchecked(server.port("submission"), "127.0.0.2");
        EXPECT_EQ(reply_code(unchecked.reply()), 220) << "no zone is configured yet";
    }
    const std::string zone =
        "[[policy.dnsbl]]\nzone = \"bl.test\"\nlisted_answers = [\"127.0.0.2\"]\n"
        "lookup_url = \"https://bl.test/lookup?ip={ip}\"\n";
    server.edit_config("account_cache_ms = 0\n", "account_cache_ms = 0\n" + zone);
    server.send_signal(SIGHUP);
    EXPECT_TRUE(greeted_with(server, "127.0.0.2", 554)) << server.log();
    {
        RawSmtpClient listed(server.port("submission"), "127.0.0.2");
        EXPECT_EQ(listed.reply(),
                  "554 5.7.1 Client address 127.0.0.2 is listed in bl.test: see "
                  "https://bl.test/lookup?ip=127.0.0.2\r\n");
    }
    server.edit_config(zone, "");
    server.send_signal(SIGHUP);
    EXPECT_TRUE(greeted_with(server, "127.0.0.2", 220)) << server.log();
}

TEST_F(Abuse, SighupAppliesAChangedListedAnswersRuleToCachedAnswers) {
    ASSERT_TRUE(greeted_with(server_, "127.0.0.2", 554));  // its answer is cached now
    server_.edit_config("listed_answers = [\"127.0.0.2\"]", "listed_answers = [\"127.0.0.3\"]");
    server_.send_signal(SIGHUP);
    EXPECT_TRUE(greeted_with(server_, "127.0.0.2", 220)) << server_.log();
    auto c = connect("127.0.0.2");
    EXPECT_EQ(reply_code(c->reply()), 220);
}

TEST_F(Abuse, SighupWithABadZoneEntryChangesNoZone) {
    ASSERT_TRUE(greeted_with(server_, "127.0.0.2", 554));
    // Would stop listing 127.0.0.2, and exempt 127.0.0.3 (tf.test), but for one bad entry.
    server_.edit_config("listed_answers = [\"127.0.0.2\"]",
                        "listed_answers = [\"127.0.0.3\", \"127.0.0.x\"]");
    server_.edit_config("dnsbl_exempt_networks = [\"127.0.0.9/32\"]",
                        "dnsbl_exempt_networks = [\"127.0.0.9/32\", \"127.0.0.3/32\"]");
    server_.send_signal(SIGHUP);
    ASSERT_TRUE(wait_until("the log says the configuration was not reloaded", [&] {
        return server_.log().find("SIGHUP: configuration not reloaded") != std::string::npos;
    }));
    EXPECT_EQ(reply_code(connect("127.0.0.2")->reply()), 554);
    auto tempfailed = logged_in("127.0.0.3");
    EXPECT_EQ(reply_code(tempfailed->command("MAIL FROM:<app@shop.example>")), 451);

    // The same file without the bad entry applies, exemption included.
    server_.edit_config(", \"127.0.0.x\"", "");
    server_.send_signal(SIGHUP);
    EXPECT_TRUE(greeted_with(server_, "127.0.0.2", 220)) << server_.log();
    auto exempt = logged_in("127.0.0.3");
    EXPECT_EQ(reply_code(exempt->command("MAIL FROM:<app@shop.example>")), 250);
}

// The harness speaks IPv4; this one listener on [::1] and its client are set up here.
TEST(AbuseIpv6, ListedIpv6ClientGets554) {
    namespace asio = boost::asio;
    asio::io_context io;
    boost::system::error_code ec;
    {
        asio::ip::tcp::acceptor probe(io);
        probe.open(asio::ip::tcp::v6(), ec);
        if (!ec) probe.bind({asio::ip::address_v6::loopback(), 0}, ec);
        if (ec) GTEST_SKIP() << "::1 is not usable on this machine: " << ec.message();
    }
    test::TestDatabase db;
    test::Dnsmasq dns(fixture_zones());
    auto options = abuse_options(dns);
    const auto port6 = free_port();
    options.extra_toml +=
        "[[smtp.listener]]\nname = \"submission6\"\naddress = \"[::1]:" + std::to_string(port6) +
        "\"\ntls = \"none\"\n";
    SmarthostServer server(db.url(), options);  // returns once the IPv4 listener is up
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::address_v6::loopback(), port6}, ec);
    ASSERT_FALSE(ec) << ec.message() << "\n" << server.log();
    asio::streambuf buffer;
    asio::read_until(socket, buffer, "\r\n", ec);
    ASSERT_FALSE(ec) << ec.message();
    std::istream in(&buffer);
    std::string greeting;
    std::getline(in, greeting);
    EXPECT_EQ(greeting,
              "554 5.7.1 Client address ::1 is listed in bl.test: see "
              "https://bl.test/lookup?ip=::1\r");
}

// Issue 11, point 10 (postscreen's pre-greet test): the connect-time DNSBL look-ups
// (slow.test waits its 300 ms timeout) delay the greeting; a bot that does not wait for
// it is closed with 554 instead of greeted.
TEST_F(Abuse, AClientTalkingBeforeTheGreetingIsClosedWith554) {
    auto c = connect("127.0.0.15");
    c->send("EHLO bot.example\r\nMAIL FROM:<spam@bot.example>\r\n");
    EXPECT_EQ(c->reply(),
              "554 5.5.0 relay.e2e.test Commands sent before the server's reply, closing "
              "connection\r\n");
    EXPECT_TRUE(c->closed());
    EXPECT_TRUE(
        eventually("SELECT count(*) FROM rejections WHERE reason = 'unauth_pipelining'", "1"));
}

// --- Authentication abuse ------------------------------------------------------------

TEST_F(Abuse, AddressIsLockedOutAfterThresholdAndRecoversAfterCoolDown) {
    for (int i = 0; i < 3; ++i) {
        auto c = connect("127.0.0.7");
        ASSERT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO x")), 250);
        EXPECT_TRUE(
            starts_with(c->command(auth_plain("guess" + std::to_string(i), "nope")), "535 5.7.8"));
    }
    auto locked = connect("127.0.0.7");
    EXPECT_EQ(
        locked->reply(),
        "421 4.7.0 relay.e2e.test Too many failed logins from 127.0.0.7, try again later\r\n");
    EXPECT_TRUE(locked->closed());
    EXPECT_EQ(scalar("SELECT count(*) FROM auth_lockouts WHERE kind = 'network' AND key = "
                     "'127.0.0.7' "
                     "AND locked_until > now()"),
              "1");
    EXPECT_TRUE(eventually(
        "SELECT count(*) FROM rejections WHERE reason = 'auth_lockout' AND account_id IS NULL",
        "1"));
    // Another address is not affected.
    auto other = logged_in("127.0.0.8");
    std::this_thread::sleep_for(3500ms);  // lockout_seconds = 3
    auto again = logged_in("127.0.0.7");
    EXPECT_EQ(reply_code(again->command("MAIL FROM:<app@shop.example>")), 250);
}

// Contract 8: guesses at a customer's username from other networks never lock the
// customer out. They flag the username, and its next successful login is recorded for
// the operator (auth_suspicious_logins, reason failed_logins).
TEST_F(Abuse, GuessesFromOtherNetworksFlagTheUsernameButNeverLockItsOwner) {
    for (const char* from : {"127.0.0.10", "127.0.0.11", "127.0.0.12"}) {
        auto c = connect(from);
        ASSERT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO x")), 250);
        EXPECT_TRUE(starts_with(c->command(auth_plain(k_username, "wrong")), "535 5.7.8"));
    }
    EXPECT_EQ(scalar("SELECT count(*) FROM auth_lockouts WHERE kind = 'username' AND key = '" +
                     std::string(k_username) + "'"),
              "1");
    auto owner = logged_in("127.0.0.13");
    EXPECT_EQ(reply_code(owner->command("MAIL FROM:<app@shop.example>")), 250);
    EXPECT_EQ(scalar("SELECT host(client_ip) || ' ' || reason || ' ' || cardinality(zones) FROM "
                     "auth_suspicious_logins"),
              "127.0.0.13 failed_logins 0");
}

TEST_F(Abuse, FailuresAreCountedAcrossReplicas) {
    auto options = abuse_options(dns_);
    SmarthostServer second(db_.url(), options);
    // Two failures on one replica, one on the other: the third locks the address on both.
    for (SmarthostServer* server : {&server_, &server_, &second}) {
        auto c = connect("127.0.0.14", *server);
        ASSERT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO x")), 250);
        EXPECT_TRUE(starts_with(c->command(auth_plain("nobody", "nope")), "535 5.7.8"));
    }
    // The second replica locks at once; the first sees it when it next reloads the
    // lockouts (each second), so it is polled rather than given a fixed sleep.
    for (SmarthostServer* server : {&second, &server_}) {
        std::string greeting;
        EXPECT_TRUE(wait_until("the locked-out network greeted with 421 4.7.0",
                               [&] {
                                   greeting = connect("127.0.0.14", *server)->reply();
                                   return starts_with(greeting, "421 4.7.0");
                               }))
            << "replica on port " << server->port("submission") << " answered " << greeting;
    }
}

}  // namespace
}  // namespace smarthost::e2e
