// End to end: per-account concurrent connection limits (docs/policy.md "Concurrent
// connections") with the real binary: 421 4.7.0 at connect for an allow-listed network,
// 421 4.7.0 to AUTH (and the connection closed), room again after a session ends, and two
// replicas on one database that together never hold more than the limit.

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "tests/e2e/harness.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_allowed_ip = "127.0.0.2";
constexpr const char* k_username = "app@shop.example";
constexpr const char* k_password = "connection limit test";
// AUTH PLAIN of k_username and k_password.
constexpr const char* k_auth_plain =
    "AUTH PLAIN AGFwcEBzaG9wLmV4YW1wbGUAY29ubmVjdGlvbiBsaW1pdCB0ZXN0";
constexpr const char* k_over_limit =
    "421 4.7.0 relay.e2e.test too many connections for this account (limit 2)\r\n";
// [limits] connection_count_interval_ms below: replicas see each other within two.
constexpr auto k_interval = 200ms;

ServerOptions limit_options() {
    ServerOptions options;
    options.listeners = {{"submission", "none", true}};
    options.allow_auth_without_tls = true;
    options.extra_toml =
        "[policy]\naccount_cache_ms = 0\n"
        "[limits]\nconnection_count_interval_ms = 200\n";
    return options;
}

class ConnectionLimit : public ::testing::Test {
  protected:
    ConnectionLimit() : server_(db_.url(), limit_options()) {}

    void SetUp() override {
        account_id_ = db_.create_account("shop");
        db_.add_sender_domain(account_id_, "shop.example");
        db_.exec("UPDATE accounts SET max_connections = 2 WHERE id = $1", account_id_);
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", account_id_,
                 std::string(k_allowed_ip) + "/32");
        const auto set = server_.subcommand({"credential", "set", "--account", "shop", "--username",
                                             k_username, "--password", k_password});
        ASSERT_EQ(set.exit_code, 0) << set.output;
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "---- smarthost log ----\n" << server_.log() << '\n';
    }

    // Connected from `from`; the greeting is left to the caller.
    std::unique_ptr<RawSmtpClient> connect(SmarthostServer& server, const std::string& from) {
        return std::make_unique<RawSmtpClient>(server.port("submission"), from);
    }

    // Connected from a network no account owns, past EHLO and AUTH with `expected` reply.
    std::unique_ptr<RawSmtpClient> authenticated(const std::string& expected) {
        auto c = connect(server_, "127.0.0.1");
        EXPECT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO app.shop.example")), 250);
        EXPECT_EQ(c->command(k_auth_plain), expected);
        return c;
    }

    void quit(RawSmtpClient& c) {
        EXPECT_EQ(reply_code(c.command("QUIT")), 221);
        EXPECT_TRUE(c.closed());
    }

    std::string scalar(const std::string& sql) {
        return db_.exec(sql).at(0).at(0).value_or("NULL");
    }

    // Waits until `sql` answers `expected` (rows the server writes after its reply).
    testing::AssertionResult eventually(const std::string& sql, const std::string& expected) {
        return wait_until(sql + " answers " + expected, [&] { return scalar(sql) == expected; });
    }

    std::string published_sessions() {
        return "SELECT coalesce(sum(sessions), 0) FROM connection_counts WHERE account_id = " +
               std::to_string(account_id_);
    }

    test::TestDatabase db_;
    SmarthostServer server_;
    std::int64_t account_id_ = 0;
};

TEST_F(ConnectionLimit, ThirdConnectionFromTheAllowListedNetworkGets421AtConnect) {
    auto first = connect(server_, k_allowed_ip);
    EXPECT_EQ(reply_code(first->reply()), 220);
    auto second = connect(server_, k_allowed_ip);
    EXPECT_EQ(reply_code(second->reply()), 220);
    auto third = connect(server_, k_allowed_ip);
    EXPECT_EQ(third->reply(), k_over_limit);
    EXPECT_TRUE(third->closed());

    quit(*first);
    auto fourth = connect(server_, k_allowed_ip);
    EXPECT_EQ(reply_code(fourth->reply()), 220);
    EXPECT_EQ(reply_code(fourth->command("EHLO app.shop.example")), 250);
    EXPECT_EQ(reply_code(fourth->command("MAIL FROM:<app@shop.example>")), 250);

    EXPECT_TRUE(
        eventually("SELECT count(*) FROM rejections WHERE reason = 'max_connections' "
                   "AND account_id = " +
                       std::to_string(account_id_),
                   "1"));
}

TEST_F(ConnectionLimit, ThirdAuthGets421AndTheConnectionCloses) {
    auto first = authenticated("235 2.7.0 Authentication successful\r\n");
    auto second = authenticated("235 2.7.0 Authentication successful\r\n");
    auto third = authenticated(k_over_limit);
    EXPECT_TRUE(third->closed());

    quit(*second);
    auto fourth = authenticated("235 2.7.0 Authentication successful\r\n");
    EXPECT_EQ(reply_code(fourth->command("MAIL FROM:<app@shop.example>")), 250);
    // A whole transaction through swaks while two sessions are open is refused at AUTH.
    const auto refused =
        swaks({"--server", "127.0.0.1:" + std::to_string(server_.port("submission")), "--auth",
               "PLAIN", "--auth-user", k_username, "--auth-password", k_password, "--from",
               "app@shop.example", "--to", "someone@example.org"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.output.find("<** 421 4.7.0 relay.e2e.test too many connections for this "
                                  "account (limit 2)"),
              std::string::npos)
        << refused.output;
    EXPECT_TRUE(
        eventually("SELECT count(*) FROM rejections WHERE reason = 'max_connections'", "2"));
}

TEST_F(ConnectionLimit, AnAllowListedSessionLoggingInAsItsOwnAccountCountsOnce) {
    auto first = connect(server_, k_allowed_ip);
    EXPECT_EQ(reply_code(first->reply()), 220);
    auto second = connect(server_, k_allowed_ip);
    EXPECT_EQ(reply_code(second->reply()), 220);
    EXPECT_EQ(reply_code(second->command("EHLO app.shop.example")), 250);
    EXPECT_EQ(reply_code(second->command(k_auth_plain)), 235);
    EXPECT_EQ(reply_code(second->command("MAIL FROM:<app@shop.example>")), 250);
}

TEST_F(ConnectionLimit, TwoReplicasTogetherHoldNoMoreThanTheLimit) {
    SmarthostServer second_replica(db_.url(), limit_options());
    // Each open waits until the count is published and then two intervals, so that the
    // other replica has read it (the documented staleness bound).
    const auto settle = [this](const std::string& sessions) {
        EXPECT_TRUE(eventually(published_sessions(), sessions));
        std::this_thread::sleep_for(2 * k_interval + 100ms);
    };
    auto on_first = connect(server_, k_allowed_ip);
    EXPECT_EQ(reply_code(on_first->reply()), 220);
    settle("1");
    auto on_second = connect(second_replica, k_allowed_ip);
    EXPECT_EQ(reply_code(on_second->reply()), 220);
    settle("2");
    for (SmarthostServer* server : {&server_, &second_replica}) {
        auto refused = connect(*server, k_allowed_ip);
        EXPECT_EQ(refused->reply(), k_over_limit) << "replica on " << server->port("submission");
        EXPECT_TRUE(refused->closed());
        // AUTH on a connection from elsewhere is held to the same count.
        auto c = connect(*server, "127.0.0.1");
        EXPECT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO app.shop.example")), 250);
        EXPECT_EQ(c->command(k_auth_plain), k_over_limit);
    }

    quit(*on_first);
    settle("1");
    auto again = connect(second_replica, k_allowed_ip);
    EXPECT_EQ(reply_code(again->reply()), 220);
    EXPECT_TRUE(
        eventually("SELECT count(*) FROM rejections WHERE reason = 'max_connections'", "4"));
}

TEST_F(ConnectionLimit, AStoppedReplicaWithdrawsItsCounts) {
    auto c = connect(server_, k_allowed_ip);
    EXPECT_EQ(reply_code(c->reply()), 220);
    EXPECT_TRUE(eventually(published_sessions(), "1"));
    quit(*c);
    server_.process().signal(SIGTERM);
    EXPECT_EQ(server_.process().wait(30s), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_replicas"), "0");
}

}  // namespace
}  // namespace smarthost::e2e
