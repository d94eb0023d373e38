#include "admin-api/router.hpp"

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>

#include "admin-api/api_routes.hpp"
#include "admin-api/health_routes.hpp"

namespace smarthost::admin {
namespace {

boost::asio::awaitable<Response> nothing(RequestContext&) {
    co_return Response{};
}

Router sample() {
    Router router;
    router.add("GET", "/api/v1/accounts", nothing);
    router.add("POST", "/api/v1/accounts", nothing);
    router.add("GET", "/api/v1/accounts/{id}", nothing);
    router.add("DELETE", "/api/v1/accounts/{id}", nothing);
    router.add("POST", "/api/v1/accounts/{id}/suspend", nothing);
    return router;
}

TEST(Router, MatchesLiteralPath) {
    const auto router = sample();
    const auto match = router.match("POST", "/api/v1/accounts");
    ASSERT_NE(match.route, nullptr);
    EXPECT_EQ(match.route->method, "POST");
    EXPECT_TRUE(match.params.empty());
}

TEST(Router, CapturesPlaceholderSegments) {
    const auto router = sample();
    const auto match = router.match("POST", "/api/v1/accounts/42/suspend");
    ASSERT_NE(match.route, nullptr);
    ASSERT_EQ(match.params.size(), 1u);
    EXPECT_EQ(match.params[0].first, "id");
    EXPECT_EQ(match.params[0].second, "42");
}

TEST(Router, UnknownPathHasNoAllowedMethods) {
    const auto router = sample();
    for (const auto* path :
         {"/api/v1/nothing", "/api/v1/accounts/1/2", "/api/v1/accounts/", "/api/v1", "/"}) {
        const auto match = router.match("GET", path);
        EXPECT_EQ(match.route, nullptr) << path;
        EXPECT_TRUE(match.allow.empty()) << path;
    }
}

TEST(Router, WrongMethodListsTheAllowedOnes) {
    const auto router = sample();
    const auto match = router.match("PUT", "/api/v1/accounts/7");
    EXPECT_EQ(match.route, nullptr);
    EXPECT_EQ(match.allow, (std::vector<std::string>{"GET", "DELETE"}));
}

TEST(Router, MethodsAreCaseSensitive) {
    const auto router = sample();
    EXPECT_EQ(router.match("get", "/api/v1/accounts").route, nullptr);
}

TEST(Router, ARouteNeedsATokenUnlessItSaysOtherwise) {
    const auto router = sample();
    for (const auto& route : router.routes())
        EXPECT_EQ(route.access, Access::token) << route.method << " " << route.pattern;
}

// The server authenticates by the matched route's access: only the three health routes
// may be open, and every API route needs a token.
TEST(Router, OnlyMetricsAndHealthAreOpen) {
    auto router = api_router();
    add_health_routes(router);
    std::vector<std::string> open;
    for (const auto& route : router.routes())
        if (route.access == Access::open) open.push_back(route.method + " " + route.pattern);
    EXPECT_EQ(open, (std::vector<std::string>{"GET /metrics", "GET /healthz", "GET /readyz"}));
}

TEST(Router, IdsArePositiveDecimals) {
    EXPECT_EQ(parse_id("17"), 17);
    EXPECT_EQ(parse_id("0"), std::nullopt);
    EXPECT_EQ(parse_id("-3"), std::nullopt);
    EXPECT_EQ(parse_id("12abc"), std::nullopt);
    EXPECT_EQ(parse_id("99999999999999999999"), std::nullopt);
    EXPECT_EQ(parse_id(""), std::nullopt);
    // Found by fuzz_admin_target: /api/v1/accounts/07 reached account 7 under a second path.
    EXPECT_EQ(parse_id("07"), std::nullopt);
    EXPECT_EQ(parse_id("007"), std::nullopt);
}

}  // namespace
}  // namespace smarthost::admin
