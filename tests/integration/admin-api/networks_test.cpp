// /api/v1/accounts/{id}/networks and /api/v1/networks/{id}.

#include <boost/json.hpp>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

using NetworksApiTest = AdminApiTest;

TEST_F(NetworksApiTest, AddsIpv4AndIpv6Networks) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto v4 = post("/api/v1/accounts/" + account + "/networks", R"({"cidr":"192.0.2.0/24"})");
    ASSERT_EQ(v4.status, 201u) << v4.body;
    EXPECT_EQ(v4.json().at("cidr").as_string(), "192.0.2.0/24");
    const auto v6 =
        post("/api/v1/accounts/" + account + "/networks", R"({"cidr":"2001:db8::/48"})");
    ASSERT_EQ(v6.status, 201u) << v6.body;
    const auto host =
        post("/api/v1/accounts/" + account + "/networks", R"({"cidr":"198.51.100.7"})");
    ASSERT_EQ(host.status, 201u) << host.body;
    EXPECT_EQ(host.json().at("cidr").as_string(), "198.51.100.7/32");
    const auto list = get("/api/v1/accounts/" + account + "/networks");
    ASSERT_EQ(list.status, 200u);
    EXPECT_EQ(list.json().at("items").as_array().size(), 3u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM allowed_networks").at(0).at(0), "3");
    EXPECT_EQ(audit_rows().back(), "ops POST /api/v1/accounts/" + account + "/networks 201");
}

TEST_F(NetworksApiTest, InvalidCidrIs422OnTheCidrField) {
    const auto account = std::to_string(create_account_via_api("acme"));
    for (const auto* cidr : {"10.0.0.1/8", "300.1.1.1/32", "10.0.0.0/33", "example.com", ""}) {
        const auto reply = post("/api/v1/accounts/" + account + "/networks",
                                std::string(R"({"cidr":")") + cidr + R"("})");
        EXPECT_EQ(reply.status, 422u) << cidr;
        EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"cidr"}) << cidr;
    }
    EXPECT_EQ(post("/api/v1/accounts/" + account + "/networks", R"({"cidr":5})").status, 422u);
}

TEST_F(NetworksApiTest, OverlapWithAnyNetworkIs409) {
    const auto a = std::to_string(create_account_via_api("a"));
    const auto b = std::to_string(create_account_via_api("b"));
    ASSERT_EQ(post("/api/v1/accounts/" + a + "/networks", R"({"cidr":"10.1.0.0/16"})").status,
              201u);
    const auto inside = post("/api/v1/accounts/" + b + "/networks", R"({"cidr":"10.1.2.0/24"})");
    EXPECT_EQ(inside.status, 409u);
    EXPECT_EQ(inside.error_fields(), std::vector<std::string>{"cidr"});
    EXPECT_NE(inside.json().at("detail").as_string().find("10.1.0.0/16"), std::string::npos);
    EXPECT_EQ(post("/api/v1/accounts/" + b + "/networks", R"({"cidr":"10.0.0.0/8"})").status, 409u);
    EXPECT_EQ(post("/api/v1/accounts/" + a + "/networks", R"({"cidr":"10.1.0.0/16"})").status,
              409u);
    EXPECT_EQ(post("/api/v1/accounts/" + b + "/networks", R"({"cidr":"10.2.0.0/16"})").status,
              201u);
}

TEST_F(NetworksApiTest, MissingAccountIs404) {
    EXPECT_EQ(post("/api/v1/accounts/55555/networks", R"({"cidr":"10.0.0.0/8"})").status, 404u);
    EXPECT_EQ(get("/api/v1/accounts/55555/networks").status, 404u);
}

TEST_F(NetworksApiTest, DeleteRemovesTheNetwork) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto added =
        post("/api/v1/accounts/" + account + "/networks", R"({"cidr":"10.0.0.0/8"})");
    const auto id = std::to_string(added.json().at("id").as_int64());
    EXPECT_EQ(del("/api/v1/networks/" + id).status, 204u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM allowed_networks").at(0).at(0), "0");
    EXPECT_EQ(del("/api/v1/networks/" + id).status, 404u);
    EXPECT_EQ(audit_rows().back(), "ops DELETE /api/v1/networks/" + id + " 204");
    // The range is free again.
    EXPECT_EQ(post("/api/v1/accounts/" + account + "/networks", R"({"cidr":"10.0.0.0/8"})").status,
              201u);
}

}  // namespace
}  // namespace smarthost::admin::test
