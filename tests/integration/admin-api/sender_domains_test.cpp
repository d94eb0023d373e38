// /api/v1/accounts/{id}/domains and /api/v1/domains/{id}.

#include <boost/json.hpp>
#include <regex>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using SenderDomainsApiTest = AdminApiTest;

TEST_F(SenderDomainsApiTest, AddedDomainIsPendingWithItsVerificationRecord) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto reply =
        post("/api/v1/accounts/" + account + "/domains", R"({"domain":"Mail.Example.COM."})");
    ASSERT_EQ(reply.status, 201u) << reply.body;
    const auto body = reply.json();
    EXPECT_EQ(body.at("domain").as_string(), "mail.example.com");
    EXPECT_EQ(body.at("status").as_string(), "pending");
    EXPECT_FALSE(body.at("include_subdomains").as_bool());
    EXPECT_TRUE(body.at("verified_at").is_null());
    EXPECT_TRUE(body.at("checked_at").is_null());
    const std::string token(body.at("verification").at("token").as_string());
    EXPECT_TRUE(std::regex_match(token, std::regex("[0-9a-f]{32}"))) << token;
    const auto& record = body.at("verification").at("record");
    EXPECT_EQ(record.at("type").as_string(), "TXT");
    EXPECT_EQ(record.at("name").as_string(), "_smarthost.mail.example.com");
    EXPECT_EQ(record.at("value").as_string(), "smarthost-verification=" + token);

    const auto stored = db.exec(
        "SELECT domain, verification_token, status FROM sender_domains WHERE account_id = $1",
        account);
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(*stored[0][0], "mail.example.com");
    EXPECT_EQ(*stored[0][1], token);
    EXPECT_EQ(audit_rows().back(), "ops POST /api/v1/accounts/" + account + "/domains 201");
    const auto detail = db.exec("SELECT detail->>'domain' FROM audit_log ORDER BY id DESC LIMIT 1");
    EXPECT_EQ(*detail.at(0).at(0), "mail.example.com");
}

TEST_F(SenderDomainsApiTest, EachDomainGetsItsOwnToken) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto a = post("/api/v1/accounts/" + account + "/domains", R"({"domain":"a.example"})");
    const auto b = post("/api/v1/accounts/" + account + "/domains",
                        R"({"domain":"b.example","include_subdomains":true})");
    ASSERT_EQ(a.status, 201u);
    ASSERT_EQ(b.status, 201u);
    EXPECT_NE(a.json().at("verification").at("token"), b.json().at("verification").at("token"));
    EXPECT_TRUE(b.json().at("include_subdomains").as_bool());
}

TEST_F(SenderDomainsApiTest, BadDomainIs422OnTheDomainField) {
    const auto account = std::to_string(create_account_via_api("acme"));
    for (const auto* domain : {"localhost", "exa mple.com", "-x.example", "192.0.2.1", ""}) {
        const auto reply = post("/api/v1/accounts/" + account + "/domains",
                                std::string(R"({"domain":")") + domain + R"("})");
        EXPECT_EQ(reply.status, 422u) << domain;
        EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"domain"}) << domain;
    }
    EXPECT_EQ(post("/api/v1/accounts/" + account + "/domains", "{}").error_fields(),
              std::vector<std::string>{"domain"});
    const auto bad_flag = post("/api/v1/accounts/" + account + "/domains",
                               R"({"domain":"a.example","include_subdomains":"yes"})");
    EXPECT_EQ(bad_flag.status, 422u);
    EXPECT_EQ(bad_flag.error_fields(), std::vector<std::string>{"include_subdomains"});
    const auto unknown = post("/api/v1/accounts/" + account + "/domains",
                              R"({"domain":"a.example","status":"verified"})");
    EXPECT_EQ(unknown.status, 422u);
    EXPECT_EQ(unknown.error_fields(), std::vector<std::string>{"status"});
    EXPECT_EQ(db.exec("SELECT count(*) FROM sender_domains").at(0).at(0), "0");
}

TEST_F(SenderDomainsApiTest, DuplicateIs409AndOtherAccountsMayClaimTheSameDomain) {
    const auto a = std::to_string(create_account_via_api("a"));
    const auto b = std::to_string(create_account_via_api("b"));
    ASSERT_EQ(post("/api/v1/accounts/" + a + "/domains", R"({"domain":"shop.example"})").status,
              201u);
    const auto again = post("/api/v1/accounts/" + a + "/domains", R"({"domain":"SHOP.example"})");
    EXPECT_EQ(again.status, 409u);
    EXPECT_EQ(again.error_fields(), std::vector<std::string>{"domain"});
    // Each account proves control with its own token.
    EXPECT_EQ(post("/api/v1/accounts/" + b + "/domains", R"({"domain":"shop.example"})").status,
              201u);
}

TEST_F(SenderDomainsApiTest, MissingAccountIs404) {
    EXPECT_EQ(post("/api/v1/accounts/9999/domains", R"({"domain":"a.example"})").status, 404u);
    EXPECT_EQ(get("/api/v1/accounts/9999/domains").status, 404u);
    EXPECT_EQ(get("/api/v1/domains/9999").status, 404u);
    EXPECT_EQ(get("/api/v1/domains/x").status, 404u);
    EXPECT_TRUE(audit_rows().empty());
}

TEST_F(SenderDomainsApiTest, ListGetPatchAndDelete) {
    const auto account = std::to_string(create_account_via_api("acme"));
    for (const auto* domain : {"a.example", "b.example", "c.example"})
        post("/api/v1/accounts/" + account + "/domains",
             std::string(R"({"domain":")") + domain + R"("})");
    const auto page = get("/api/v1/accounts/" + account + "/domains?limit=2");
    ASSERT_EQ(page.status, 200u) << page.body;
    ASSERT_EQ(page.json().at("items").as_array().size(), 2u);
    const std::string cursor(page.json().at("next_cursor").as_string());
    const auto rest = get("/api/v1/accounts/" + account + "/domains?limit=2&cursor=" + cursor);
    const auto rest_body = rest.json();
    ASSERT_EQ(rest_body.at("items").as_array().size(), 1u);
    const auto& last = rest_body.at("items").as_array()[0];
    EXPECT_EQ(last.at("domain").as_string(), "c.example");
    EXPECT_EQ(last.at("verification").at("record").at("name").as_string(), "_smarthost.c.example");
    const auto id = std::to_string(last.at("id").as_int64());

    db.exec(
        "UPDATE sender_domains SET status = 'verified', verified_at = now(), "
        "checked_at = now() WHERE id = $1",
        id);
    const auto one = get("/api/v1/domains/" + id);
    ASSERT_EQ(one.status, 200u);
    EXPECT_EQ(one.json().at("status").as_string(), "verified");
    EXPECT_FALSE(one.json().at("verified_at").is_null());

    const auto patched = patch("/api/v1/domains/" + id, R"({"include_subdomains":true})");
    ASSERT_EQ(patched.status, 200u) << patched.body;
    EXPECT_TRUE(patched.json().at("include_subdomains").as_bool());
    EXPECT_EQ(patched.json().at("status").as_string(), "verified");
    EXPECT_EQ(patch("/api/v1/domains/" + id, R"({"domain":"d.example"})").status, 422u);
    EXPECT_EQ(patch("/api/v1/domains/" + id, R"({"include_subdomains":1})").status, 422u);
    EXPECT_EQ(patch("/api/v1/domains/9999", R"({"include_subdomains":true})").status, 404u);

    EXPECT_EQ(del("/api/v1/domains/" + id).status, 204u);
    EXPECT_EQ(del("/api/v1/domains/" + id).status, 404u);
    EXPECT_EQ(get("/api/v1/domains/" + id).status, 404u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM sender_domains").at(0).at(0), "2");
    const auto audit = audit_rows();
    ASSERT_EQ(audit.size(), 6u);  // the account, three adds, one patch, one delete
    EXPECT_EQ(audit[4], "ops PATCH /api/v1/domains/" + id + " 200");
    EXPECT_EQ(audit[5], "ops DELETE /api/v1/domains/" + id + " 204");
}

class CustomLabelTest : public AdminApiTest {
  protected:
    AdminServer::Settings settings() override {
        auto settings = AdminApiTest::settings();
        settings.verification_label = "_relay-check";
        return settings;
    }
};

TEST_F(CustomLabelTest, RecordNameUsesTheConfiguredLabel) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto reply =
        post("/api/v1/accounts/" + account + "/domains", R"({"domain":"a.example"})");
    ASSERT_EQ(reply.status, 201u) << reply.body;
    EXPECT_EQ(reply.json().at("verification").at("record").at("name").as_string(),
              "_relay-check.a.example");
}

}  // namespace
}  // namespace smarthost::admin::test
