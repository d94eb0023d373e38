// End to end through the admin API: an operator creates an account, a credential and a
// network over HTTP, and a customer sends with the credential the API returned.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/e2e/harness.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

namespace json = boost::json;

struct HttpResult {
    int status = 0;
    json::value body;
};

HttpResult http(const std::string& method, std::uint16_t port, const std::string& path,
                const std::string& token, const std::string& body = {}) {
    std::vector<std::string> argv{"curl",
                                  "-sS",
                                  "-X",
                                  method,
                                  "-o",
                                  "-",
                                  "-w",
                                  "\n%{http_code}",
                                  "-H",
                                  "Authorization: Bearer " + token,
                                  "http://127.0.0.1:" + std::to_string(port) + path};
    if (!body.empty()) {
        argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    const auto result = run_command(argv);
    HttpResult out;
    const auto newline = result.output.rfind('\n');
    if (result.exit_code != 0 || newline == std::string::npos) return out;
    out.status = std::atoi(result.output.c_str() + newline + 1);
    const auto text = result.output.substr(0, newline);
    boost::system::error_code ec;
    out.body = json::parse(text, ec);
    return out;
}

TEST(AdminApi, AccountCredentialAndNetworkMadeThroughTheApiCanSend) {
    test::TestDatabase db;
    ServerOptions options;
    const auto admin_port = free_port();
    options.roles = "smtp,admin";
    options.extra_toml = "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port) + "\"\n";
    SmarthostServer server(db.url(), options);
    ASSERT_TRUE(wait_for_port("127.0.0.1", admin_port, std::chrono::seconds(10))) << server.log();

    const auto token = server.subcommand({"token", "create", "--name", "ops"});
    ASSERT_EQ(token.exit_code, 0) << token.output;
    const std::string bearer = token.output.substr(0, token.output.find('\n'));

    // Without the token: 401 problem+json.
    EXPECT_EQ(http("GET", admin_port, "/api/v1/accounts", "wrong").status, 401);

    auto account = http("POST", admin_port, "/api/v1/accounts", bearer, R"({"name":"shop"})");
    ASSERT_EQ(account.status, 201) << json::serialize(account.body);
    const auto account_id = account.body.at("id").to_number<std::int64_t>();

    const auto accounts_path = "/api/v1/accounts/" + std::to_string(account_id);
    auto credential = http("POST", admin_port, accounts_path + "/credentials", bearer,
                           R"({"username":"shop@customer.example"})");
    ASSERT_EQ(credential.status, 201) << json::serialize(credential.body);
    const std::string password(credential.body.at("password").as_string());

    auto bad_network =
        http("POST", admin_port, accounts_path + "/networks", bearer, R"({"cidr":"10.0.0.300/8"})");
    EXPECT_EQ(bad_network.status, 422);
    auto network =
        http("POST", admin_port, accounts_path + "/networks", bearer, R"({"cidr":"127.0.0.9/32"})");
    ASSERT_EQ(network.status, 201) << json::serialize(network.body);

    const auto sent =
        swaks({"--server", "127.0.0.1:" + std::to_string(server.port("submission")), "--tls",
               "--auth", "PLAIN", "--auth-user", "shop@customer.example", "--auth-password",
               password, "--from", "shop@customer.example", "--to", "buyer@example.org"});
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
    const auto id = queued_id(sent.output);
    ASSERT_FALSE(id.empty()) << sent.output;
    const auto rows = db.exec("SELECT account_id FROM messages WHERE id = $1::uuid", id);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], std::to_string(account_id));

    // Every change is in the audit log under the token's name.
    const auto audit = db.exec("SELECT count(*) FROM audit_log WHERE token_name = 'ops'");
    EXPECT_EQ(*audit.at(0).at(0), "3");
}

}  // namespace
}  // namespace smarthost::e2e
