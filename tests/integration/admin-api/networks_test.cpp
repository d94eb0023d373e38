// /api/v1/accounts/{id}/networks and /api/v1/networks/{id}.

#include <boost/json.hpp>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

namespace json = boost::json;
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
    EXPECT_EQ(
        post("/api/v1/accounts/" + b + "/networks", R"({"cidr":"10.0.0.0/8","force":true})").status,
        409u);
    EXPECT_EQ(post("/api/v1/accounts/" + a + "/networks", R"({"cidr":"10.1.0.0/16"})").status,
              409u);
    EXPECT_EQ(post("/api/v1/accounts/" + b + "/networks", R"({"cidr":"10.2.0.0/16"})").status,
              201u);
}

TEST_F(NetworksApiTest, MissingAccountIs404) {
    EXPECT_EQ(post("/api/v1/accounts/55555/networks", R"({"cidr":"10.0.0.0/16"})").status, 404u);
    EXPECT_EQ(get("/api/v1/accounts/55555/networks").status, 404u);
}

TEST_F(NetworksApiTest, DeleteRemovesTheNetwork) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto added =
        post("/api/v1/accounts/" + account + "/networks", R"({"cidr":"10.0.0.0/16"})");
    const auto id = std::to_string(added.json().at("id").as_int64());
    EXPECT_EQ(del("/api/v1/networks/" + id).status, 204u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM allowed_networks").at(0).at(0), "0");
    EXPECT_EQ(del("/api/v1/networks/" + id).status, 404u);
    EXPECT_EQ(audit_rows().back(), "ops DELETE /api/v1/networks/" + id + " 204");
    // The range is free again.
    EXPECT_EQ(post("/api/v1/accounts/" + account + "/networks", R"({"cidr":"10.0.0.0/16"})").status,
              201u);
}

// Issue 11 point 20: a pasted 0.0.0.0/0 or a "/4" typed for "/24" would let much of the
// Internet relay without AUTH; a broad network needs the operator to say so.
TEST_F(NetworksApiTest, BroaderThanTheDefaultLimitIs422OnCidrUnlessForced) {
    const auto account = std::to_string(create_account_via_api("acme"));
    const auto path = "/api/v1/accounts/" + account + "/networks";
    for (const auto* cidr :
         {"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/15", "::/0", "2001:db8::/32", "2001:db8::/47"}) {
        const auto reply = post(path, std::string(R"({"cidr":")") + cidr + R"("})");
        EXPECT_EQ(reply.status, 422u) << cidr << " " << reply.body;
        EXPECT_EQ(reply.error_fields(), std::vector<std::string>{"cidr"}) << cidr;
        const auto message = reply.json().at("errors").at(0).at("message").as_string();
        EXPECT_NE(message.find("is broader than"), json::string::npos) << message;
        EXPECT_NE(message.find("\"force\": true"), json::string::npos) << message;
    }
    const auto explicit_no = post(path, R"({"cidr":"10.0.0.0/8","force":false})");
    EXPECT_EQ(explicit_no.status, 422u);
    EXPECT_EQ(explicit_no.error_fields(), std::vector<std::string>{"cidr"});
    const auto not_boolean = post(path, R"({"cidr":"10.0.0.0/8","force":"yes"})");
    EXPECT_EQ(not_boolean.status, 422u);
    EXPECT_EQ(not_boolean.error_fields(), std::vector<std::string>{"force"});
    EXPECT_EQ(db.exec("SELECT count(*) FROM allowed_networks").at(0).at(0), "0");
    EXPECT_EQ(audit_rows().size(), 1u);  // the account only

    // At the limit, no force needed.
    EXPECT_EQ(post(path, R"({"cidr":"10.1.0.0/16"})").status, 201u);
    EXPECT_EQ(post(path, R"({"cidr":"2001:db8:1::/48"})").status, 201u);
    // Forced: stored, and the audit row says it was forced.
    const auto forced = post(path, R"({"cidr":"172.16.0.0/12","force":true})");
    ASSERT_EQ(forced.status, 201u) << forced.body;
    EXPECT_EQ(forced.json().at("cidr").as_string(), "172.16.0.0/12");
    const auto audit = db.exec(
        "SELECT detail->>'cidr', detail->>'force' FROM audit_log "
        "WHERE path LIKE '%/networks' ORDER BY id");
    ASSERT_EQ(audit.size(), 3u);
    EXPECT_EQ(audit[0], (smarthost::test::TestDatabase::Row{"10.1.0.0/16", "false"}));
    EXPECT_EQ(audit[2], (smarthost::test::TestDatabase::Row{"172.16.0.0/12", "true"}));
}

class NarrowNetworksApiTest : public AdminApiTest {
  protected:
    AdminServer::Settings settings() override {
        auto s = AdminApiTest::settings();
        s.network_breadth = NetworkBreadth{24, 64};
        return s;
    }
};

TEST_F(NarrowNetworksApiTest, TheConfiguredLimitsApply) {
    const auto path =
        "/api/v1/accounts/" + std::to_string(create_account_via_api("acme")) + "/networks";
    EXPECT_EQ(post(path, R"({"cidr":"10.1.0.0/16"})").status, 422u);
    EXPECT_EQ(post(path, R"({"cidr":"2001:db8:1::/48"})").status, 422u);
    EXPECT_EQ(post(path, R"({"cidr":"10.1.2.0/24"})").status, 201u);
    EXPECT_EQ(post(path, R"({"cidr":"2001:db8:1::/64"})").status, 201u);
}

// Issue 11 point 20: the 409 is built from the request and the existing row, never from
// PostgreSQL's message, which names the table and the exclusion constraint.
TEST_F(NetworksApiTest, ConflictBodyNamesNoTableOrConstraint) {
    const auto a = std::to_string(create_account_via_api("a"));
    const auto b = std::to_string(create_account_via_api("b"));
    ASSERT_EQ(post("/api/v1/accounts/" + a + "/networks", R"({"cidr":"10.1.0.0/16"})").status,
              201u);
    const auto conflict = post("/api/v1/accounts/" + b + "/networks", R"({"cidr":"10.1.2.0/24"})");
    ASSERT_EQ(conflict.status, 409u) << conflict.body;
    EXPECT_EQ(conflict.header("content-type"), "application/problem+json");
    for (const char* internal :
         {"allowed_networks", "no_overlap", "constraint", "exclusion", "relation", "Key ("})
        EXPECT_EQ(conflict.body.find(internal), std::string::npos)
            << internal << " in " << conflict.body;
}

}  // namespace
}  // namespace smarthost::admin::test
