// Bearer tokens: missing, malformed, unknown and revoked tokens are 401.

#include "admin-api/api_routes.hpp"
#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using AdminAuthTest = AdminApiTest;

HttpCall list_with(std::string authorization) {
    return HttpCall{"GET", "/api/v1/accounts", {}, "application/json", std::move(authorization)};
}

TEST_F(AdminAuthTest, MissingTokenIs401WithBearerChallenge) {
    const auto reply = call(list_with(""));
    EXPECT_EQ(reply.status, 401u);
    EXPECT_TRUE(reply.header("www-authenticate").starts_with("Bearer"))
        << reply.header("www-authenticate");
    EXPECT_EQ(reply.header("content-type"), "application/problem+json");
}

TEST_F(AdminAuthTest, OtherSchemeIs401) {
    EXPECT_EQ(call(list_with("Basic b3BzOnNlY3JldA==")).status, 401u);
}

TEST_F(AdminAuthTest, UnknownTokenIs401) {
    EXPECT_EQ(call(list_with("Bearer sht_not-a-real-token")).status, 401u);
    EXPECT_EQ(call(list_with("Bearer " + token + "x")).status, 401u);
}

TEST_F(AdminAuthTest, SchemeIsCaseInsensitive) {
    EXPECT_EQ(call(list_with("bearer " + token)).status, 200u);
}

TEST_F(AdminAuthTest, UnknownPathsNeedATokenToo) {
    EXPECT_EQ(call({"GET", "/api/v1/secret-route", {}, "", std::string()}).status, 401u);
}

TEST_F(AdminAuthTest, EveryRouteNeedsAToken) {
    const auto account = create_account_via_api("acme");
    const auto router = api_router();
    for (const auto& route : router.routes()) {
        std::string target = route.pattern;
        for (auto at = target.find('{'); at != std::string::npos; at = target.find('{'))
            target.replace(at, target.find('}', at) - at + 1, std::to_string(account));
        const auto reply = call({route.method, target, "{}", "application/json", std::string()});
        EXPECT_EQ(reply.status, 401u) << route.method << " " << target;
    }
    EXPECT_EQ(audit_rows().size(), 1u);  // the account; nothing unauthenticated
    EXPECT_EQ(db.exec("SELECT count(*) FROM accounts").at(0).at(0), "1");
}

TEST_F(AdminAuthTest, RevokedTokenIs401) {
    const auto other = create_token("ci");
    const auto id = db.exec("SELECT id FROM api_tokens WHERE name = 'ci'").at(0).at(0).value();
    EXPECT_EQ(call(list_with("Bearer " + other)).status, 200u);
    EXPECT_EQ(post("/api/v1/tokens/" + id + "/revoke").status, 200u);
    const auto reply = call(list_with("Bearer " + other));
    EXPECT_EQ(reply.status, 401u);
    EXPECT_NE(reply.json().at("detail").as_string().find("revoked"), std::string::npos);
}

TEST_F(AdminAuthTest, TokensAreStoredOnlyAsSha256AndMarkedUsed) {
    EXPECT_TRUE(token.starts_with("sht_"));
    EXPECT_GE(token.size(), 4u + 43u);
    auto rows = db.exec(
        "SELECT encode(token_sha256, 'hex') = encode(sha256($1::bytea), 'hex'), last_used_at "
        "IS NULL FROM api_tokens WHERE name = 'ops'",
        token);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "t");
    EXPECT_EQ(rows[0][1], "t");
    EXPECT_EQ(get("/api/v1/accounts").status, 200u);
    rows = db.exec("SELECT last_used_at IS NOT NULL FROM api_tokens WHERE name = 'ops'");
    EXPECT_EQ(rows[0][0], "t");
}

}  // namespace
}  // namespace smarthost::admin::test
