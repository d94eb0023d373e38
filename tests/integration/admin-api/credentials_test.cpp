// /api/v1/accounts/{id}/credentials and /api/v1/credentials/{id}.

#include <boost/json.hpp>

#include "core/crypto.hpp"
#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using CredentialsApiTest = AdminApiTest;

TEST_F(CredentialsApiTest, CreateReturnsThePasswordOnceAndStoresArgon2id) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto reply =
        post("/api/v1/accounts/" + account + "/credentials", R"({"username":"acme-web"})");
    ASSERT_EQ(reply.status, 201u) << reply.body;
    const auto body = reply.json().as_object();
    const std::string password(body.at("password").as_string());
    EXPECT_GE(password.size(), 20u);
    EXPECT_EQ(body.at("username").as_string(), "acme-web");
    EXPECT_TRUE(body.at("enabled").as_bool());
    const auto rows = db.exec("SELECT secret_hash FROM credentials WHERE username = 'acme-web'");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(rows[0][0]->starts_with("$argon2id$"));
    EXPECT_TRUE(crypto::verify_password(*rows[0][0], password));
    EXPECT_EQ(rows[0][0]->find(password), std::string::npos);

    const auto list = get("/api/v1/accounts/" + account + "/credentials");
    ASSERT_EQ(list.status, 200u);
    EXPECT_EQ(list.body.find(password), std::string::npos);
    EXPECT_EQ(list.body.find("argon2"), std::string::npos);
    EXPECT_EQ(list.body.find("password"), std::string::npos);
    EXPECT_EQ(list.json().at("items").as_array().size(), 1u);
    EXPECT_EQ(audit_rows().back(), "ops POST /api/v1/accounts/" + account + "/credentials 201");
    EXPECT_EQ(
        db.exec("SELECT count(*) FROM audit_log WHERE detail::text LIKE '%' || $1 || '%'", password)
            .at(0)
            .at(0),
        "0");
}

TEST_F(CredentialsApiTest, DuplicateUsernameIs409) {
    const auto a = std::to_string(create_account_via_api("a"));
    const auto b = std::to_string(create_account_via_api("b"));
    ASSERT_EQ(post("/api/v1/accounts/" + a + "/credentials", R"({"username":"shared"})").status,
              201u);
    const auto reply = post("/api/v1/accounts/" + b + "/credentials", R"({"username":"shared"})");
    EXPECT_EQ(reply.status, 409u);
    EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"username"});
}

TEST_F(CredentialsApiTest, BadInputAndMissingAccount) {
    const auto a = std::to_string(create_account_via_api("a"));
    EXPECT_EQ(post("/api/v1/accounts/" + a + "/credentials", R"({})").status, 422u);
    EXPECT_EQ(post("/api/v1/accounts/" + a + "/credentials", R"({"username":"has space"})").status,
              422u);
    EXPECT_EQ(
        post("/api/v1/accounts/" + a + "/credentials", R"({"username":"x","password":"p"})").status,
        422u);
    EXPECT_EQ(post("/api/v1/accounts/987654/credentials", R"({"username":"x"})").status, 404u);
    EXPECT_EQ(get("/api/v1/accounts/987654/credentials").status, 404u);
}

TEST_F(CredentialsApiTest, DisableEnableRotateDelete) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto created =
        post("/api/v1/accounts/" + account + "/credentials", R"({"username":"u1"})");
    const auto id = std::to_string(created.json().at("id").as_int64());
    const std::string first(created.json().at("password").as_string());

    const auto disabled = post("/api/v1/credentials/" + id + "/disable");
    ASSERT_EQ(disabled.status, 200u) << disabled.body;
    EXPECT_FALSE(disabled.json().at("enabled").as_bool());
    EXPECT_EQ(db.exec("SELECT enabled FROM credentials WHERE id = $1", id).at(0).at(0), "f");
    EXPECT_TRUE(post("/api/v1/credentials/" + id + "/enable").json().at("enabled").as_bool());

    const auto rotated = post("/api/v1/credentials/" + id + "/rotate");
    ASSERT_EQ(rotated.status, 200u);
    const std::string second(rotated.json().at("password").as_string());
    EXPECT_NE(first, second);
    const auto hash = *db.exec("SELECT secret_hash FROM credentials WHERE id = $1", id).at(0).at(0);
    EXPECT_TRUE(crypto::verify_password(hash, second));
    EXPECT_FALSE(crypto::verify_password(hash, first));

    EXPECT_EQ(del("/api/v1/credentials/" + id).status, 204u);
    EXPECT_TRUE(db.exec("SELECT 1 FROM credentials WHERE id = $1", id).empty());
    for (const auto* action : {"/disable", "/enable", "/rotate"})
        EXPECT_EQ(post("/api/v1/credentials/" + id + action).status, 404u) << action;
    EXPECT_EQ(del("/api/v1/credentials/" + id).status, 404u);

    const auto rows = audit_rows();
    ASSERT_EQ(rows.size(), 6u);
    EXPECT_EQ(rows[2], "ops POST /api/v1/credentials/" + id + "/disable 200");
    EXPECT_EQ(rows[5], "ops DELETE /api/v1/credentials/" + id + " 204");
}

TEST_F(CredentialsApiTest, ConcurrentCreatesAllSucceed) {
    // Hashing runs on worker threads; results come back to the I/O thread in any order.
    const auto account = std::to_string(create_account_via_api("acme"));
    std::vector<std::thread> clients;
    std::vector<unsigned> statuses(6);
    for (std::size_t i = 0; i < statuses.size(); ++i)
        clients.emplace_back([&, i] {
            statuses[i] = post("/api/v1/accounts/" + account + "/credentials",
                               R"({"username":"u)" + std::to_string(i) + R"("})")
                              .status;
        });
    for (auto& client : clients)
        client.join();
    for (const auto status : statuses)
        EXPECT_EQ(status, 201u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM credentials").at(0).at(0), "6");
}

}  // namespace
}  // namespace smarthost::admin::test
