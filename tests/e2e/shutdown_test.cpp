// End to end: SIGTERM's drain and SIGHUP's reload with the real binary
// (docs/configuration.md, "Signals"). Assertions are on
// SMTP replies, stored rows, the served certificate and the exit status.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "tests/e2e/harness.hpp"
#include "tests/support/scriptable_smtp_server.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_client_ip = "127.0.0.2";  // allow-listed for the account

// A database with an account that may relay from k_client_ip as shop.example; the server
// is started by each test, after the account exists.
class Lifecycle : public ::testing::Test {
  protected:
    Lifecycle() {
        account_id_ = db_.create_account("shop");
        db_.add_sender_domain(account_id_, "shop.example");
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", account_id_,
                 std::string(k_client_ip) + "/32");
    }

    void TearDown() override {
        if (HasFailure() && server_) std::cerr << "---- smarthost log ----\n" << server_->log();
    }

    SmarthostServer& start(const std::string& extra_toml,
                           std::vector<ListenerSpec> listeners = {{"submission", "none"}},
                           const std::string& roles = "smtp", const std::string& server_toml = "",
                           Certificate tls = {}) {
        ServerOptions options;
        options.listeners = std::move(listeners);
        options.extra_toml = extra_toml;
        options.roles = roles;
        options.server_toml = server_toml;
        options.tls = std::move(tls);
        server_ = std::make_unique<SmarthostServer>(db_.url(), options);
        return *server_;
    }

    // A client from the allow-listed address, past EHLO.
    std::unique_ptr<RawSmtpClient> client(const std::string& listener = "submission") {
        auto c = std::make_unique<RawSmtpClient>(server_->port(listener), k_client_ip);
        EXPECT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO app.shop.example")), 250);
        return c;
    }

    // How many recipients one transaction may have now: RCPTs until one is refused.
    std::size_t recipients_accepted(std::size_t at_most) {
        auto c = client();
        EXPECT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
        std::size_t accepted = 0;
        while (accepted < at_most) {
            const auto reply =
                c->command("RCPT TO:<r" + std::to_string(accepted) + "@example.org>");
            if (reply_code(reply) != 250) {
                EXPECT_TRUE(starts_with(reply, "452 4.5.3")) << reply;
                break;
            }
            ++accepted;
        }
        c->command("QUIT");
        return accepted;
    }

    std::string count(const std::string& table) {
        return *db_.exec("SELECT count(*) FROM " + table).at(0).at(0);
    }

    test::TestDatabase db_;
    std::int64_t account_id_ = 0;
    std::unique_ptr<SmarthostServer> server_;
};

constexpr const char* k_message =
    "From: app@shop.example\r\nTo: bob@example.org\r\nSubject: drain\r\n\r\n";

TEST_F(Lifecycle, SigtermCompletesTheMessageInProgressTellsOthers421AndExitsZero) {
    auto& server = start("");
    auto sending = client();
    ASSERT_EQ(reply_code(sending->command("MAIL FROM:<app@shop.example>")), 250);
    ASSERT_EQ(reply_code(sending->command("RCPT TO:<bob@example.org>")), 250);
    ASSERT_EQ(reply_code(sending->command("DATA")), 354);
    sending->send(std::string(k_message) + "first half\r\n");
    auto idle = client();

    server.send_signal(SIGTERM);
    // Between transactions: told at once, not after the grace period (30 s here).
    const auto told = idle->reply(5s);
    EXPECT_TRUE(starts_with(told, "421 4.3.2 relay.e2e.test")) << told;
    EXPECT_TRUE(idle->closed());
    // A connection that arrives during the drain gets a clear temporary answer.
    RawSmtpClient straggler(server.port("submission"), k_client_ip);
    const auto greeting = straggler.reply();
    EXPECT_TRUE(starts_with(greeting, "421 4.3.2")) << greeting;
    EXPECT_TRUE(straggler.closed());

    // The message in progress is completed, committed and acknowledged, then 421.
    const auto done = sending->command("second half\r\n.");
    const auto id = queued_id(done);
    ASSERT_FALSE(id.empty()) << done;
    EXPECT_TRUE(starts_with(sending->reply(5s), "421 4.3.2"));
    const auto stored =
        db_.exec("SELECT encode(body, 'escape') FROM messages WHERE id = $1::uuid", id);
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_NE(stored[0][0]->find("first half\r\nsecond half\r\n"), std::string::npos);
    EXPECT_EQ(*db_.exec("SELECT state FROM recipients WHERE message_id = $1::uuid", id).at(0).at(0),
              "queued");
    EXPECT_EQ(server.wait_exit(20s), 0);
}

TEST_F(Lifecycle, SessionsStillOpenWhenTheGraceEndsGet421AndNothingHalfReceivedIsStored) {
    auto& server = start("", {{"submission", "none"}}, "smtp", "shutdown_grace_seconds = 2\n");
    auto in_transaction = client();
    ASSERT_EQ(reply_code(in_transaction->command("MAIL FROM:<app@shop.example>")), 250);
    auto in_data = client();
    ASSERT_EQ(reply_code(in_data->command("MAIL FROM:<app@shop.example>")), 250);
    ASSERT_EQ(reply_code(in_data->command("RCPT TO:<bob@example.org>")), 250);
    ASSERT_EQ(reply_code(in_data->command("DATA")), 354);
    in_data->send(std::string(k_message) + "never finished\r\n");
    auto idle = client();

    const auto signalled = std::chrono::steady_clock::now();
    server.send_signal(SIGTERM);
    ASSERT_TRUE(starts_with(idle->reply(5s), "421 4.3.2"));  // the drain has begun
    // A transaction in progress goes on during the grace period...
    EXPECT_EQ(reply_code(in_transaction->command("RCPT TO:<bob@example.org>")), 250);
    // ...and is told 421 when it is over: not a silent cut.
    const auto told = in_transaction->reply(10s);
    EXPECT_TRUE(starts_with(told, "421 4.3.2")) << told;
    EXPECT_GE(std::chrono::steady_clock::now() - signalled, 1500ms);
    const auto cut = in_data->reply(10s);
    EXPECT_TRUE(starts_with(cut, "421 4.3.2")) << cut;
    EXPECT_TRUE(in_data->closed());
    EXPECT_EQ(server.wait_exit(20s), 0);
    // Not acknowledged, so not stored: the client still has it and sends it again.
    EXPECT_EQ(count("messages"), "0");
}

TEST_F(Lifecycle, SigtermReleasesTheLeasesOfDeliveriesStillInProgress) {
    test::SmtpServerScript stalling;
    stalling.stall_at = test::SmtpStep::data_end;  // takes the message, never answers the dot
    test::ScriptableSmtpServer upstream(stalling, "127.0.0.6");
    auto& server = start(
        "[delivery]\nshutdown_grace_seconds = 1\nlease_seconds = 300\n"
        "poll_seconds = 1\nallow_destination_networks = [\"127.0.0.0/8\"]\n"
        "[delivery.upstream]\nhost = \"127.0.0.6\"\nport = " +
            std::to_string(upstream.port()) +
            "\ntls = \"none\"\n"
            // No DNS here to prove the sender domain: the delivery role
            // would take it away.
            "[policy]\nsender_domain_verification = false\n",
        {{"submission", "none"}}, "smtp,delivery");
    auto c = client();
    ASSERT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    ASSERT_EQ(reply_code(c->command("RCPT TO:<bob@example.org>")), 250);
    ASSERT_EQ(reply_code(c->command("DATA")), 354);
    ASSERT_EQ(reply_code(c->command(std::string(k_message) + "hello\r\n.")), 250);
    c->command("QUIT");
    ASSERT_TRUE(wait_until(
        "the upstream received DATA",
        [&] {
            for (const auto& command : upstream.commands())
                if (command == "DATA") return true;
            return false;
        },
        20s));
    const auto leased =
        db_.exec("SELECT state, lease_owner IS NOT NULL, attempts FROM recipients").at(0);
    ASSERT_EQ(leased[0], "in_flight");
    ASSERT_EQ(leased[1], "t");

    server.send_signal(SIGTERM);
    EXPECT_EQ(server.wait_exit(30s), 0);
    // Released at once for another replica, not after the 300 s lease, and the attempt
    // that did not finish is not counted.
    const auto released = db_.exec(
        "SELECT state, lease_owner IS NULL, lease_expires_at IS NULL, attempts FROM recipients");
    ASSERT_EQ(released.size(), 1u);
    EXPECT_EQ(released[0][0], "queued");
    EXPECT_EQ(released[0][1], "t");
    EXPECT_EQ(released[0][2], "t");
    EXPECT_EQ(released[0][3], "0");
}

TEST_F(Lifecycle, SighupAppliesAChangedLimitToTheNextSessions) {
    auto& server = start("[limits]\nrecipients_per_message = 3\n");
    ASSERT_EQ(recipients_accepted(10), 3u);
    server.edit_config("recipients_per_message = 3", "recipients_per_message = 1");
    server.send_signal(SIGHUP);
    EXPECT_TRUE(wait_until(
        "the reloaded limit of 1 recipient", [&] { return recipients_accepted(10) == 1; }, 20s));
}

TEST_F(Lifecycle, SighupKeepsListenerAddressesThatNeedARestart) {
    auto& server = start("[limits]\nrecipients_per_message = 3\n");
    const auto port = server.port("submission");
    const auto other_port = free_port();
    server.edit_config("127.0.0.1:" + std::to_string(port),
                       "127.0.0.1:" + std::to_string(other_port));
    server.edit_config("recipients_per_message = 3", "recipients_per_message = 2");
    server.send_signal(SIGHUP);
    // The limit is applied; the listener stays where it was until a restart.
    EXPECT_TRUE(wait_until(
        "the reloaded limit of 2 recipients", [&] { return recipients_accepted(10) == 2; }, 20s));
    EXPECT_FALSE(wait_for_port("the listener's new address", "127.0.0.1", other_port, 1s));
}

TEST_F(Lifecycle, SighupWithABrokenConfigurationKeepsTheRunningOne) {
    TempDir dir;
    const auto first = make_certificate(dir.path(), "first.relay.test");
    auto& server = start("[limits]\nrecipients_per_message = 3\n",
                         {{"submission", "none"}, {"submissions", "implicit"}}, "smtp", "", first);
    const auto tls_port = server.port("submissions");
    ASSERT_NE(served_subject(tls_port).find("first.relay.test"), std::string::npos);

    // A broken file (an unknown key) that would also lower the limit...
    server.edit_config("recipients_per_message = 3",
                       "recipients_per_message = 1\nrecipients_per_fortnight = 5");
    // ...and a renewed certificate, which every SIGHUP reads: it shows the signal was
    // handled.
    TempDir next;
    const auto second = make_certificate(next.path(), "second.relay.test");
    std::filesystem::copy_file(second.certificate, first.certificate,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(second.private_key, first.private_key,
                               std::filesystem::copy_options::overwrite_existing);
    server.send_signal(SIGHUP);
    EXPECT_TRUE(wait_until(
        "the second certificate served",
        [&] { return served_subject(tls_port).find("second.relay.test") != std::string::npos; },
        20s));
    EXPECT_EQ(recipients_accepted(10), 3u);
    EXPECT_TRUE(server.process().running());
}

}  // namespace
}  // namespace smarthost::e2e
