// The security suite (docs/security.md): each test is an attack on the real binary, named
// after it, asserting the replies and the rows it leaves.

#include <gtest/gtest.h>

#include "tests/e2e/harness.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_username = "app@shop.example";
constexpr const char* k_password = "security test password";

class Security : public ::testing::Test {
  protected:
    Security() : admin_port_(free_port()), server_(db_.url(), options(admin_port_)) {}

    static ServerOptions options(std::uint16_t admin_port) {
        ServerOptions options;
        options.roles = "smtp,admin";
        options.listeners = {{"submission", "none", false}};
        options.allow_auth_without_tls = true;
        options.extra_toml =
            "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port) + "\"\n";
        return options;
    }

    void SetUp() override {
        account_id_ = db_.create_account("shop");
        const auto result =
            server_.subcommand({"credential", "set", "--account", "shop", "--username", k_username,
                                "--password", k_password});
        ASSERT_EQ(result.exit_code, 0) << result.output;
        ASSERT_TRUE(wait_for_port("127.0.0.1", admin_port_, 10s)) << server_.log();
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "---- smarthost log ----\n" << server_.log() << '\n';
    }

    std::string scalar(const std::string& sql) { return *db_.exec(sql).at(0).at(0); }

    // curl with a request target of our choosing and no token: "<status>\n<body>".
    CommandResult curl_target(const std::string& method, const std::string& target,
                              const std::string& body = {}) {
        std::vector<std::string> argv{"curl", "-sS", "-X", method, "--request-target",
                                      target, "-o",  "-",  "-w",   "\n%{http_code}"};
        if (!body.empty())
            argv.insert(argv.end(),
                        {"-H", "Content-Type: application/json", "--data-binary", body});
        argv.push_back("http://127.0.0.1:" + std::to_string(admin_port_) + "/");
        return run_command(argv);
    }

    std::unique_ptr<RawSmtpClient> greeted() {
        auto c = std::make_unique<RawSmtpClient>(server_.port("submission"));
        EXPECT_EQ(reply_code(c->reply()), 220);
        EXPECT_EQ(reply_code(c->command("EHLO app.shop.example")), 250);
        return c;
    }

    test::TestDatabase db_;
    std::uint16_t admin_port_;
    SmarthostServer server_;
    std::int64_t account_id_ = 0;
};

std::string status_of(const CommandResult& result) {
    const auto newline = result.output.rfind('\n');
    return newline == std::string::npos ? result.output : result.output.substr(newline + 1);
}

// Issue 11, point 1: `curl --request-target 'api/v1/accounts'` skipped the token check
// (it was a prefix check on "/api/") and reached the handler: the account list, and with
// POST new credentials or allowed networks — an open relay.
TEST_F(Security, AdminApiTargetWithoutItsLeadingSlashGetsNothing) {
    const auto list = curl_target("GET", "api/v1/accounts");
    EXPECT_EQ(status_of(list), "400") << list.output;
    EXPECT_EQ(list.output.find("\"shop\""), std::string::npos) << list.output;

    const auto network =
        curl_target("POST", "api/v1/accounts/" + std::to_string(account_id_) + "/networks",
                    R"({"cidr":"0.0.0.0/0"})");
    EXPECT_EQ(status_of(network), "400") << network.output;
    const auto credential =
        curl_target("POST", "api/v1/accounts/" + std::to_string(account_id_) + "/credentials",
                    R"({"username":"attacker@shop.example"})");
    EXPECT_EQ(status_of(credential), "400") << credential.output;
    for (const char* target : {"//api/v1/accounts", "/api/v1/./accounts", "/api%2Fv1/accounts",
                               "/api/v1/accounts/", "/API/v1/accounts"}) {
        const auto odd = curl_target("GET", target);
        const auto status = status_of(odd);
        EXPECT_TRUE(status == "400" || status == "401") << target << " -> " << odd.output;
    }
    EXPECT_EQ(scalar("SELECT count(*) FROM allowed_networks"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM credentials"), "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM audit_log"), "0");
}

// Issue 11, point 4 (RFC 4616 section 2): a customer's credential may not act as another
// identity; refused before the password is checked, so it reveals nothing about it.
TEST_F(Security, PlainWithTheAuthzidOfAnotherCustomerIs535) {
    auto c = greeted();
    EXPECT_EQ(c->command(auth_plain(k_username, k_password, "postmaster@other.example")),
              "535 5.7.8 Authorization identity must be empty or the username\r\n");
    // Not authenticated: MAIL is answered as for any anonymous client (docs/policy.md),
    // and no recipient is accepted.
    EXPECT_EQ(reply_code(c->command("MAIL FROM:<app@shop.example>")), 250);
    EXPECT_EQ(reply_code(c->command("RCPT TO:<victim@example.org>")), 530);
    // The same identity twice is the client saying nothing more: accepted.
    auto same = greeted();
    EXPECT_EQ(reply_code(same->command(auth_plain(k_username, k_password, k_username))), 235);
}

// Issue 11, point 5: a NUL in an AUTH LOGIN username split the lockout key
// ("app@shop.example\0x") from the key the database looked up ("app@shop.example"), so
// guesses were counted against a name no one has. Refused before any look-up now.
TEST_F(Security, ControlCharactersInAUsernameAreRefusedBeforeAnyLookUp) {
    auto c = greeted();
    EXPECT_EQ(c->command("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(c->command(base64(std::string(k_username) + std::string(1, '\0') + "x")),
              "501 5.5.2 Username contains a control character\r\n");
    EXPECT_EQ(c->command("AUTH LOGIN " + base64(std::string(k_username) + "\r\nRCPT TO:<x>")),
              "501 5.5.2 Username contains a control character\r\n");
    EXPECT_EQ(c->command(auth_plain("caf\xe9@shop.example", k_password)),
              "501 5.5.2 Username is not valid UTF-8\r\n");
    EXPECT_EQ(scalar("SELECT count(*) FROM auth_failures"), "0");
    // The session goes on: the right credential still logs in.
    EXPECT_EQ(reply_code(c->command(auth_plain(k_username, k_password))), 235);
}

}  // namespace
}  // namespace smarthost::e2e
