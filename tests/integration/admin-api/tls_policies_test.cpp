// /api/v1/tls-policies and /api/v1/tls-policies/{domain}: the operator's TLS policy per
// destination domain (docs/delivery.md "Per-domain TLS policy").

#include <boost/json.hpp>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using TlsPoliciesApiTest = AdminApiTest;

TEST_F(TlsPoliciesApiTest, PutStoresTheLowerCasedDomainAndReplacesTheOldPolicy) {
    const auto created =
        put("/api/v1/tls-policies/Mail.Example.ORG", R"({"policy":"verify","note":"ticket 7"})");
    ASSERT_EQ(created.status, 200u) << created.body;
    EXPECT_EQ(created.json().at("domain").as_string(), "mail.example.org");
    EXPECT_EQ(created.json().at("policy").as_string(), "verify");
    EXPECT_EQ(created.json().at("note").as_string(), "ticket 7");

    const auto replaced = put("/api/v1/tls-policies/mail.example.org", R"({"policy":"require"})");
    ASSERT_EQ(replaced.status, 200u) << replaced.body;
    EXPECT_EQ(replaced.json().at("policy").as_string(), "require");
    EXPECT_EQ(replaced.json().at("note").as_string(), "");

    const auto stored = db.exec("SELECT domain, policy FROM tls_policies");
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(*stored[0][0], "mail.example.org");
    EXPECT_EQ(*stored[0][1], "require");
    const auto audit = audit_rows();
    ASSERT_GE(audit.size(), 2u);
    EXPECT_EQ(audit[audit.size() - 2], "ops PUT /api/v1/tls-policies/Mail.Example.ORG 200");
    EXPECT_EQ(audit.back(), "ops PUT /api/v1/tls-policies/mail.example.org 200");

    const auto read = get("/api/v1/tls-policies/MAIL.example.org");
    ASSERT_EQ(read.status, 200u) << read.body;
    EXPECT_EQ(read.json().at("policy").as_string(), "require");
}

TEST_F(TlsPoliciesApiTest, BadPolicyNoteOrDomainIs422NamingTheField) {
    for (const auto* body : {R"({"policy":"strict"})", R"({"policy":""})", R"({"policy":7})",
                             R"({})", R"({"policy":"none"})"}) {
        const auto reply = put("/api/v1/tls-policies/example.org", body);
        EXPECT_EQ(reply.status, 422u) << body;
        EXPECT_EQ(reply.header("content-type"), "application/problem+json") << body;
        EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"policy"}) << body;
    }
    const auto long_note = put("/api/v1/tls-policies/example.org",
                               R"({"policy":"verify","note":")" + std::string(501, 'x') + "\"}");
    EXPECT_EQ(long_note.status, 422u);
    EXPECT_EQ(long_note.error_fields(), std::vector<std::string>{"note"});
    const auto unknown =
        put("/api/v1/tls-policies/example.org", R"({"policy":"verify","mode":"x"})");
    EXPECT_EQ(unknown.status, 422u);
    EXPECT_EQ(unknown.error_fields(), std::vector<std::string>{"mode"});
    for (const auto* domain : {"localhost", "1.2.3.4", "bad_domain.example", "a..b"}) {
        const auto reply =
            put(std::string("/api/v1/tls-policies/") + domain, R"({"policy":"verify"})");
        EXPECT_EQ(reply.status, 422u) << domain;
        EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"domain"}) << domain;
    }
    EXPECT_EQ(db.exec("SELECT 1 FROM tls_policies").size(), 0u);
}

TEST_F(TlsPoliciesApiTest, DeleteRemovesAndIsAuditedAndUnknownIs404) {
    ASSERT_EQ(put("/api/v1/tls-policies/example.org", R"({"policy":"opportunistic"})").status,
              200u);
    EXPECT_EQ(del("/api/v1/tls-policies/EXAMPLE.org").status, 204u);
    EXPECT_EQ(audit_rows().back(), "ops DELETE /api/v1/tls-policies/EXAMPLE.org 204");
    EXPECT_EQ(db.exec("SELECT 1 FROM tls_policies").size(), 0u);
    const auto again = del("/api/v1/tls-policies/example.org");
    EXPECT_EQ(again.status, 404u);
    EXPECT_EQ(again.header("content-type"), "application/problem+json");
    EXPECT_EQ(get("/api/v1/tls-policies/example.org").status, 404u);
}

TEST_F(TlsPoliciesApiTest, ListPagesInCreationOrder) {
    for (const auto* domain : {"a.example", "b.example", "c.example"})
        ASSERT_EQ(
            put(std::string("/api/v1/tls-policies/") + domain, R"({"policy":"verify"})").status,
            200u);
    const auto first = get("/api/v1/tls-policies?limit=2");
    ASSERT_EQ(first.status, 200u) << first.body;
    const auto first_body = first.json();
    const auto& items = first_body.at("items").as_array();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].at("domain").as_string(), "a.example");
    EXPECT_EQ(items[1].at("domain").as_string(), "b.example");
    const auto cursor = std::string(first_body.at("next_cursor").as_string());
    const auto second = get("/api/v1/tls-policies?limit=2&cursor=" + cursor);
    ASSERT_EQ(second.status, 200u) << second.body;
    const auto second_body = second.json();
    ASSERT_EQ(second_body.at("items").as_array().size(), 1u);
    EXPECT_EQ(second_body.at("items").as_array()[0].at("domain").as_string(), "c.example");
    EXPECT_TRUE(second_body.at("next_cursor").is_null());
    EXPECT_EQ(get("/api/v1/tls-policies?limit=0").status, 422u);
}

TEST_F(TlsPoliciesApiTest, RoutesNeedAToken) {
    HttpCall call;
    call.method = "PUT";
    call.target = "/api/v1/tls-policies/example.org";
    call.body = R"({"policy":"opportunistic"})";
    call.authorization = "Bearer wrong";
    EXPECT_EQ(this->call(call).status, 401u);
    call.method = "GET";
    call.body.reset();
    EXPECT_EQ(this->call(call).status, 401u);
    EXPECT_EQ(db.exec("SELECT 1 FROM tls_policies").size(), 0u);
}

}  // namespace
}  // namespace smarthost::admin::test
