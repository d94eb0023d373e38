// GET /api/v1/domains/{id}/health and POST .../health/refresh through their router, with
// the real DomainHealthChecker behind refresh (dnsmasq, PostgreSQL): not found, never
// checked, refreshed and stored, audited, and 503 without a resolver.

#include "admin-api/domain_health.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "core/pg/pool.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/policy/domain_health_check.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::admin {
namespace {

using namespace std::chrono_literals;
using smarthost::test::DnsRecord;
using smarthost::test::run_awaitable;

// As serve.cpp wires it: a coroutine function, not a coroutine lambda (its captures
// would die with the lambda).
boost::asio::awaitable<Result<bool>> refresh_now(policy::DomainHealthChecker& checker,
                                                 std::int64_t domain_id) {
    auto report = co_await checker.check(domain_id);
    if (!report) co_return report.error();
    co_return report->has_value();
}

class DomainHealthRoutesTest : public ::testing::Test {
  protected:
    DomainHealthRoutesTest() : pool_(io_.get_executor(), {db_.url(), 2, 5}) {
        const auto account = db_.create_account("shop");
        domain_ = db_.add_sender_domain(account, "shop.test");
    }

    void with_checker() {
        dns_ = std::make_unique<smarthost::test::Dnsmasq>(
            std::vector<DnsRecord>{DnsRecord::txt("shop.test", {"v=spf1 ip4:192.0.2.0/24 -all"}),
                                   DnsRecord::txt("_dmarc.shop.test", {"v=DMARC1; p=none"})},
            1s);
        dns::Resolver::Settings settings;
        settings.forwarders = {dns_->forwarder()};
        settings.timeout = 1500ms;
        resolver_ = std::make_unique<dns::Resolver>(io_.get_executor(), settings);
        policy::DomainHealthChecker::Settings checker_settings;
        checker_settings.relay.outbound_addresses.push_back(*Network::parse("192.0.2.25"));
        checker_settings.public_suffix_list = "";
        checker_ = std::make_unique<policy::DomainHealthChecker>(
            io_.get_executor(), pool_, *resolver_, std::move(checker_settings));
    }

    Router router() {
        Router router;
        RefreshDomainHealth refresh;
        if (checker_) {
            refresh = [checker = checker_.get()](std::int64_t id) {
                return refresh_now(*checker, id);
            };
        }
        add_domain_health_routes(router, std::move(refresh));
        return router;
    }

    Response call(const std::string& method, const std::string& path) {
        const auto routes = router();
        auto match = routes.match(method, path);
        EXPECT_NE(match.route, nullptr) << method << " " << path;
        Request request;
        request.method = method;
        request.path = path;
        RequestContext context{request, match.params, "ops", pool_, io_.get_executor()};
        return run_awaitable(io_, match.route->handler(context));
    }

    smarthost::test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    std::int64_t domain_ = 0;
    std::unique_ptr<smarthost::test::Dnsmasq> dns_;
    std::unique_ptr<dns::Resolver> resolver_;
    std::unique_ptr<policy::DomainHealthChecker> checker_;
};

std::string health_path(std::int64_t id, const std::string& suffix = "") {
    return "/api/v1/domains/" + std::to_string(id) + "/health" + suffix;
}

TEST_F(DomainHealthRoutesTest, UnknownDomainIsNotFound) {
    EXPECT_EQ(call("GET", health_path(424242)).status, 404u);
    with_checker();
    EXPECT_EQ(call("POST", health_path(424242, "/refresh")).status, 404u);
}

TEST_F(DomainHealthRoutesTest, NeverCheckedDomainHasNoHealthYet) {
    const auto response = call("GET", health_path(domain_));
    ASSERT_EQ(response.status, 200u) << response.body;
    const auto document = boost::json::parse(response.body).as_object();
    EXPECT_EQ(document.at("domain"), "shop.test");
    EXPECT_TRUE(document.at("health").is_null());
    EXPECT_TRUE(document.at("checked_at").is_null());
}

TEST_F(DomainHealthRoutesTest, RefreshChecksNowStoresAndAudits) {
    with_checker();
    const auto refreshed = call("POST", health_path(domain_, "/refresh"));
    ASSERT_EQ(refreshed.status, 200u) << refreshed.body;
    const auto document = boost::json::parse(refreshed.body).as_object();
    EXPECT_FALSE(document.at("checked_at").is_null());
    const auto& health = document.at("health").as_object();
    EXPECT_EQ(health.at("spf_aligned"), true);
    EXPECT_EQ(health.at("dkim_aligned"), false);
    std::vector<std::string> codes;
    for (const auto& finding : health.at("findings").as_array())
        codes.emplace_back(finding.at("code").as_string());
    EXPECT_EQ(codes, (std::vector<std::string>{"dmarc_policy_none", "dkim_no_active_key"}));

    // GET serves what was stored.
    const auto stored = call("GET", health_path(domain_));
    ASSERT_EQ(stored.status, 200u);
    EXPECT_EQ(boost::json::parse(stored.body), boost::json::parse(refreshed.body));

    const auto audit = db_.exec("SELECT token_name, method, path, status FROM audit_log");
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0], (smarthost::test::TestDatabase::Row{
                            "ops", "POST", health_path(domain_, "/refresh"), "200"}));
}

TEST_F(DomainHealthRoutesTest, RefreshWithoutResolverIsUnavailable) {
    EXPECT_EQ(call("POST", health_path(domain_, "/refresh")).status, 503u);
}

}  // namespace
}  // namespace smarthost::admin
