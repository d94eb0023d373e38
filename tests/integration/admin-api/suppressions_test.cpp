// /api/v1/accounts/{id}/suppressions and /api/v1/suppressions/{id}.

#include <boost/json.hpp>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using SuppressionsApiTest = AdminApiTest;

TEST_F(SuppressionsApiTest, AddedAddressIsLowerCasedWithReasonOperator) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto reply = post("/api/v1/accounts/" + account + "/suppressions",
                            R"({"address":"Bob.Smith@Example.ORG"})");
    ASSERT_EQ(reply.status, 201u) << reply.body;
    EXPECT_EQ(reply.json().at("address").as_string(), "bob.smith@example.org");
    EXPECT_EQ(reply.json().at("reason").as_string(), "operator");
    const auto stored =
        db.exec("SELECT address, reason FROM suppressions WHERE account_id = $1", account);
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(*stored[0][0], "bob.smith@example.org");
    EXPECT_EQ(*stored[0][1], "operator");
    EXPECT_EQ(audit_rows().back(), "ops POST /api/v1/accounts/" + account + "/suppressions 201");
}

TEST_F(SuppressionsApiTest, BadAddressIs422AndDuplicateIs409) {
    const auto account = std::to_string(create_account_via_api("acme"));
    for (const auto* address : {"bob", "bob@", "bob smith@example.org", "<bob@example.org>", ""}) {
        const auto reply = post("/api/v1/accounts/" + account + "/suppressions",
                                std::string(R"({"address":")") + address + R"("})");
        EXPECT_EQ(reply.status, 422u) << address;
        EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"address"}) << address;
    }
    EXPECT_EQ(post("/api/v1/accounts/" + account + "/suppressions", "{}").status, 422u);
    ASSERT_EQ(
        post("/api/v1/accounts/" + account + "/suppressions", R"({"address":"a@example.org"})")
            .status,
        201u);
    const auto again =
        post("/api/v1/accounts/" + account + "/suppressions", R"({"address":"A@EXAMPLE.org"})");
    EXPECT_EQ(again.status, 409u);
    EXPECT_EQ(again.error_fields(), std::vector<std::string>{"address"});
    EXPECT_EQ(post("/api/v1/accounts/4242/suppressions", R"({"address":"a@example.org"})").status,
              404u);
}

// Issue 11 point 13: the operator's entry is stored in the form the RCPT check looks up.
TEST_F(SuppressionsApiTest, AQuotedSpellingIsStoredCanonicalAndIsADuplicate) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto reply = post("/api/v1/accounts/" + account + "/suppressions",
                            R"({"address":"\"Bob\"@Example.ORG"})");
    ASSERT_EQ(reply.status, 201u) << reply.body;
    EXPECT_EQ(reply.json().at("address").as_string(), "bob@example.org");
    EXPECT_EQ(
        post("/api/v1/accounts/" + account + "/suppressions", R"({"address":"bob@example.org"})")
            .status,
        409u);
}

TEST_F(SuppressionsApiTest, ListPagesAndFiltersByAddressPrefix) {
    const auto account_id = create_account_via_api("acme");
    const auto account = std::to_string(account_id);
    const auto other = create_account_via_api("other");
    for (const auto* address : {"ann@example.org", "anna@example.org", "bob@example.org"})
        post("/api/v1/accounts/" + account + "/suppressions",
             std::string(R"({"address":")") + address + R"("})");
    // A hard bounce recorded by delivery, and another account's entry.
    db.exec("INSERT INTO suppressions (account_id, address, last_reply) VALUES ($1, $2, $3)",
            account_id, "annie@example.org", "550 5.1.1 no such user");
    db.exec("INSERT INTO suppressions (account_id, address) VALUES ($1, 'ann@example.org')", other);

    const auto all = get("/api/v1/accounts/" + account + "/suppressions");
    ASSERT_EQ(all.status, 200u) << all.body;
    EXPECT_EQ(all.json().at("items").as_array().size(), 4u);

    const auto page = get("/api/v1/accounts/" + account + "/suppressions?address=ANN&limit=2");
    ASSERT_EQ(page.status, 200u) << page.body;
    const auto page_body = page.json();
    const auto& items = page_body.at("items").as_array();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].at("address").as_string(), "ann@example.org");
    EXPECT_EQ(items[1].at("address").as_string(), "anna@example.org");
    const std::string cursor(page_body.at("next_cursor").as_string());
    const auto rest =
        get("/api/v1/accounts/" + account + "/suppressions?address=ann&limit=2&cursor=" + cursor);
    const auto rest_body = rest.json();
    ASSERT_EQ(rest_body.at("items").as_array().size(), 1u);
    const auto& bounce = rest_body.at("items").as_array()[0];
    EXPECT_EQ(bounce.at("address").as_string(), "annie@example.org");
    EXPECT_EQ(bounce.at("reason").as_string(), "hard_bounce");
    EXPECT_EQ(bounce.at("last_reply").as_string(), "550 5.1.1 no such user");
    EXPECT_TRUE(rest_body.at("next_cursor").is_null());

    EXPECT_EQ(get("/api/v1/accounts/" + account + "/suppressions?limit=0").status, 422u);
    EXPECT_EQ(get("/api/v1/accounts/4242/suppressions").status, 404u);
}

TEST_F(SuppressionsApiTest, DeleteRemovesTheEntry) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto added =
        post("/api/v1/accounts/" + account + "/suppressions", R"({"address":"a@example.org"})");
    const auto id = std::to_string(added.json().at("id").as_int64());
    EXPECT_EQ(del("/api/v1/suppressions/" + id).status, 204u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM suppressions").at(0).at(0), "0");
    EXPECT_EQ(del("/api/v1/suppressions/" + id).status, 404u);
    EXPECT_EQ(audit_rows().back(), "ops DELETE /api/v1/suppressions/" + id + " 204");
    EXPECT_EQ(
        post("/api/v1/accounts/" + account + "/suppressions", R"({"address":"a@example.org"})")
            .status,
        201u);
}

}  // namespace
}  // namespace smarthost::admin::test
