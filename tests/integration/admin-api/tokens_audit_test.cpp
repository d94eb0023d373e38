// /api/v1/tokens, /api/v1/audit and create_api_token.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <future>

#include "admin-api/tokens.hpp"
#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using TokensAuditApiTest = AdminApiTest;

TEST_F(TokensAuditApiTest, ListShowsNamesNeverTokens) {
    create_token("ci");
    const auto reply = get("/api/v1/tokens");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    const auto reply_body = reply.json();
    const auto& items = reply_body.at("items").as_array();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].at("name").as_string(), "ops");
    EXPECT_FALSE(items[0].at("last_used_at").is_null());
    EXPECT_FALSE(items[0].at("revoked").as_bool());
    EXPECT_EQ(items[1].at("name").as_string(), "ci");
    EXPECT_EQ(reply.body.find(token), std::string::npos);
    EXPECT_EQ(reply.body.find("sha256"), std::string::npos);
}

TEST_F(TokensAuditApiTest, RevokeIsAuditedAndIdempotent) {
    create_token("ci");
    const auto id = *db.exec("SELECT id FROM api_tokens WHERE name = 'ci'").at(0).at(0);
    const auto first = post("/api/v1/tokens/" + id + "/revoke");
    ASSERT_EQ(first.status, 200u) << first.body;
    EXPECT_TRUE(first.json().at("revoked").as_bool());
    const auto again = post("/api/v1/tokens/" + id + "/revoke");
    EXPECT_EQ(again.json().at("revoked_at"), first.json().at("revoked_at"));
    EXPECT_EQ(post("/api/v1/tokens/424242/revoke").status, 404u);
    EXPECT_EQ(audit_rows().front(), "ops POST /api/v1/tokens/" + id + "/revoke 200");
}

TEST_F(TokensAuditApiTest, DuplicateTokenNameIsAnError) {
    std::promise<Result<std::string>> made;
    // create_token() expects success; call the library directly for the failure.
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            auto result = co_await create_api_token(*pool, "ops");
            made.set_value(std::move(result));
        },
        boost::asio::detached);
    const auto result = made.get_future().get();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, "23505");
}

TEST_F(TokensAuditApiTest, AuditListsNewestFirstWithTokenNamesAndPages) {
    const auto second = create_token("ci");
    create_account_via_api("one");
    const auto other = call(
        {"POST", "/api/v1/accounts", R"({"name":"two"})", "application/json", "Bearer " + second});
    ASSERT_EQ(other.status, 201u);
    create_account_via_api("three");

    const auto page1 = get("/api/v1/audit?limit=2");
    ASSERT_EQ(page1.status, 200u) << page1.body;
    const auto page1_body = page1.json();
    const auto& items = page1_body.at("items").as_array();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].at("detail").at("name").as_string(), "three");
    EXPECT_EQ(items[1].at("detail").at("name").as_string(), "two");
    EXPECT_EQ(items[1].at("token_name").as_string(), "ci");
    EXPECT_EQ(items[1].at("method").as_string(), "POST");
    EXPECT_EQ(items[1].at("status").as_int64(), 201);
    const std::string cursor(page1.json().at("next_cursor").as_string());
    const auto page2 = get("/api/v1/audit?limit=2&cursor=" + cursor);
    const auto page2_body = page2.json();
    const auto& rest = page2_body.at("items").as_array();
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].at("detail").at("name").as_string(), "one");
    EXPECT_TRUE(page2.json().at("next_cursor").is_null());
    EXPECT_EQ(get("/api/v1/audit?limit=9999").status, 422u);
}

TEST_F(TokensAuditApiTest, ReadsAreNotAudited) {
    create_account_via_api("one");
    get("/api/v1/accounts");
    get("/api/v1/tokens");
    get("/api/v1/audit");
    EXPECT_EQ(audit_rows().size(), 1u);
}

}  // namespace
}  // namespace smarthost::admin::test
