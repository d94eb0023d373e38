// Credential limits (GET/PATCH /api/v1/credentials/{id}), an account's sub-user settings
// (PATCH /api/v1/accounts/{id} "sub_users") and the statistics by credential and sub-user.

#include <boost/json.hpp>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using SubUsersApiTest = AdminApiTest;

TEST_F(SubUsersApiTest, CredentialLimitsAreCreatedShownChangedAndCleared) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto created = post("/api/v1/accounts/" + account + "/credentials",
                              R"({"username":"panel","limits":{"messages_per_hour":50}})");
    ASSERT_EQ(created.status, 201u) << created.body;
    const auto id = std::to_string(created.json().at("id").as_int64());
    EXPECT_EQ(created.json().at("limits").at("messages_per_hour").as_int64(), 50);
    EXPECT_TRUE(created.json().at("limits").at("messages_per_day").is_null());

    const auto changed =
        patch("/api/v1/credentials/" + id,
              R"({"limits":{"recipients_per_day":1000,"messages_per_hour":null}})");
    ASSERT_EQ(changed.status, 200u) << changed.body;
    const auto shown = get("/api/v1/credentials/" + id);
    ASSERT_EQ(shown.status, 200u);
    EXPECT_TRUE(shown.json().at("limits").at("messages_per_hour").is_null());
    EXPECT_EQ(shown.json().at("limits").at("recipients_per_day").as_int64(), 1000);
    EXPECT_EQ(shown.body.find("secret"), std::string::npos);
    EXPECT_EQ(db.exec("SELECT recipients_per_day FROM credentials WHERE id = $1", id).at(0).at(0),
              "1000");
    EXPECT_EQ(audit_rows().back(), "ops PATCH /api/v1/credentials/" + id + " 200");
    EXPECT_EQ(get("/api/v1/credentials/987654").status, 404u);
    EXPECT_EQ(patch("/api/v1/credentials/987654", R"({"limits":{}})").status, 404u);
}

TEST_F(SubUsersApiTest, BadCredentialLimitsAre422NamingTheField) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto created =
        post("/api/v1/accounts/" + account + "/credentials", R"({"username":"panel"})");
    const auto id = std::to_string(created.json().at("id").as_int64());
    const auto negative =
        patch("/api/v1/credentials/" + id, R"({"limits":{"messages_per_day":-1}})");
    EXPECT_EQ(negative.status, 422u);
    EXPECT_EQ(negative.error_fields(), std::vector<std::string>{"limits.messages_per_day"});
    const auto unknown = patch("/api/v1/credentials/" + id, R"({"limits":{"max_connections":3}})");
    EXPECT_EQ(unknown.error_fields(), std::vector<std::string>{"limits.max_connections"});
    const auto huge =
        patch("/api/v1/credentials/" + id, R"({"limits":{"messages_per_hour":4294967296}})");
    EXPECT_EQ(huge.error_fields(), std::vector<std::string>{"limits.messages_per_hour"});
    EXPECT_EQ(patch("/api/v1/credentials/" + id, R"({"username":"other"})").error_fields(),
              std::vector<std::string>{"username"});
}

TEST_F(SubUsersApiTest, AnAccountsSubUserSettingsAreSetShownAndTurnedOff) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto before = get("/api/v1/accounts/" + account).json().at("sub_users");
    EXPECT_TRUE(before.at("header").is_null());
    EXPECT_TRUE(before.at("strip_header").as_bool());
    EXPECT_EQ(before.at("max_sub_users").as_int64(), 1000);

    const auto set = patch("/api/v1/accounts/" + account,
                           R"({"sub_users":{"header":"X-AuthUser","strip_header":false,)"
                           R"("max_sub_users":50,"limits":{"messages_per_hour":20}}})");
    ASSERT_EQ(set.status, 200u) << set.body;
    const auto set_body = set.json();
    const auto& sub_users = set_body.at("sub_users");
    EXPECT_EQ(sub_users.at("header").as_string(), "X-AuthUser");
    EXPECT_FALSE(sub_users.at("strip_header").as_bool());
    EXPECT_EQ(sub_users.at("max_sub_users").as_int64(), 50);
    EXPECT_EQ(sub_users.at("limits").at("messages_per_hour").as_int64(), 20);
    // Other fields of the body leave the settings alone.
    ASSERT_EQ(patch("/api/v1/accounts/" + account, R"({"note":"x"})").status, 200u);
    EXPECT_EQ(db.exec("SELECT sub_user_header FROM accounts WHERE id = $1", account).at(0).at(0),
              "X-AuthUser");

    ASSERT_EQ(patch("/api/v1/accounts/" + account, R"({"sub_users":{"header":null}})").status,
              200u);
    EXPECT_EQ(db.exec("SELECT sub_user_header IS NULL, sub_user_messages_per_hour FROM accounts "
                      "WHERE id = $1",
                      account)
                  .at(0)
                  .at(0),
              "t");
}

TEST_F(SubUsersApiTest, StructuralOrMalformedHeaderNamesAre422) {
    const auto account = std::to_string(create_account_via_api("acme"));
    for (const char* name :
         {R"("From")", R"("dkim-signature")", R"("Received")", R"("Content-Type")", R"("X Auth")",
          R"("X-A:b")", R"("")", R"("X-Auth\r\nBcc")", R"(7)"}) {
        const auto reply = patch("/api/v1/accounts/" + account,
                                 std::string(R"({"sub_users":{"header":)") + name + "}}");
        EXPECT_EQ(reply.status, 422u) << name;
        EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"sub_users.header"}) << name;
    }
    const auto bound =
        patch("/api/v1/accounts/" + account, R"({"sub_users":{"max_sub_users":0,"colour":"red"}})");
    EXPECT_EQ(bound.error_fields(),
              (std::vector<std::string>{"sub_users.colour", "sub_users.max_sub_users"}));
    EXPECT_EQ(
        db.exec("SELECT sub_user_header IS NULL FROM accounts WHERE id = $1", account).at(0).at(0),
        "t");
}

TEST_F(SubUsersApiTest, StatisticsCountByCredentialAndBySubUser) {
    const auto acme = create_account_via_api("acme");
    const auto panel = std::stoll(*db.exec("INSERT INTO credentials (account_id, username, "
                                           "secret_hash) VALUES ($1, 'panel', 'x') RETURNING id",
                                           acme)
                                       .at(0)
                                       .at(0));
    db.exec("INSERT INTO credentials (account_id, username, secret_hash) VALUES ($1, 'idle', 'x')",
            acme);
    const auto first = store_message(acme, 1, "s@acme.example",
                                     {{"a@x.example", "delivered"}, {"b@x.example", "bounced"}});
    const auto second = store_message(acme, 2, "s@acme.example", {{"c@x.example", "queued"}});
    store_message(acme, 3, "s@acme.example", {{"d@x.example", "queued"}});
    db.exec("UPDATE messages SET credential_id = $1, sub_user = 'blog1' WHERE id = $2::uuid", panel,
            first);
    db.exec("UPDATE messages SET credential_id = $1, sub_user = 'shop2' WHERE id = $2::uuid", panel,
            second);
    db.exec(
        "INSERT INTO events (message_id, recipient_id, kind) SELECT message_id, id, "
        "CASE address WHEN 'a@x.example' THEN 'delivered' ELSE 'bounced' END "
        "FROM recipients WHERE message_id = $1::uuid",
        first);

    const auto stats = get("/api/v1/accounts/" + std::to_string(acme) + "/stats");
    ASSERT_EQ(stats.status, 200u) << stats.body;
    const auto body = stats.json();
    const auto& credentials = body.at("by_credential").as_array();
    ASSERT_EQ(credentials.size(), 2u);
    EXPECT_EQ(credentials[0].at("username").as_string(), "panel");
    EXPECT_EQ(credentials[0].at("accepted").at("messages").as_int64(), 2);
    EXPECT_EQ(credentials[0].at("accepted").at("recipients").as_int64(), 3);
    EXPECT_EQ(credentials[0].at("delivered").as_int64(), 1);
    EXPECT_EQ(credentials[0].at("bounced").as_int64(), 1);
    EXPECT_EQ(credentials[1].at("accepted").at("messages").as_int64(), 0);
    EXPECT_EQ(body.at("sub_users_total").as_int64(), 2);
    const auto& sub_users = body.at("by_sub_user").as_array();
    ASSERT_EQ(sub_users.size(), 2u);
    EXPECT_EQ(sub_users[0].at("sub_user").as_string(), "blog1");
    EXPECT_EQ(sub_users[0].at("accepted").at("recipients").as_int64(), 2);
    EXPECT_EQ(sub_users[0].at("delivered").as_int64(), 1);
    EXPECT_EQ(sub_users[0].at("bounced").as_int64(), 1);
    EXPECT_EQ(sub_users[1].at("sub_user").as_string(), "shop2");
    EXPECT_EQ(sub_users[1].at("delivered").as_int64(), 0);
    // Message tracking names the sub-user too.
    EXPECT_EQ(get("/api/v1/messages/" + first).json().at("sub_user").as_string(), "blog1");
}

}  // namespace
}  // namespace smarthost::admin::test
