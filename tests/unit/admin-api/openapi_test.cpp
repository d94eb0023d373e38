// docs/openapi.yaml and the served routes agree, both ways (issue 5).

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "admin-api/api_routes.hpp"
#include "admin-api/health_routes.hpp"

namespace smarthost::admin {
namespace {

// "METHOD /path" for every operation under paths: (a path is a two-space-indented key
// starting with /, an operation a four-space-indented HTTP method key under it).
std::set<std::string> spec_operations() {
    std::ifstream file(SMARTHOST_OPENAPI_PATH);
    EXPECT_TRUE(file) << "cannot open " << SMARTHOST_OPENAPI_PATH;
    const std::regex path_line(R"(^  (/[^:]*):\s*$)");
    const std::regex method_line(R"(^    (get|put|post|patch|delete|head|options):)");
    std::set<std::string> operations;
    std::string current_path;
    std::string line;
    std::smatch match;
    while (std::getline(file, line)) {
        if (std::regex_match(line, match, path_line)) {
            current_path = match[1];
        } else if ((!line.empty() && line[0] != ' ') || (line.size() > 2 && line[2] != ' ')) {
            // A new top-level section, or another two-space key (not a path), ends paths.
            current_path.clear();
        } else if (!current_path.empty() && std::regex_search(line, match, method_line)) {
            std::string method = match[1];
            std::transform(method.begin(), method.end(), method.begin(), ::toupper);
            method += ' ';
            method += current_path;
            operations.insert(method);
        }
    }
    return operations;
}

// What the admin listener serves: the API and the monitoring routes.
Router admin_router() {
    auto router = api_router();
    add_health_routes(router);
    return router;
}

std::set<std::string> served_operations() {
    std::set<std::string> operations;
    const auto router = admin_router();
    for (const auto& route : router.routes())
        operations.insert(route.method + " " + route.pattern);
    return operations;
}

TEST(OpenApi, SpecListsOperations) {
    EXPECT_GE(spec_operations().size(), 10u);
    EXPECT_TRUE(spec_operations().contains("GET /readyz"));
}

TEST(OpenApi, EveryServedRouteIsInTheSpec) {
    const auto spec = spec_operations();
    for (const auto& operation : served_operations())
        EXPECT_TRUE(spec.contains(operation)) << operation << " is served but not in openapi.yaml";
}

TEST(OpenApi, EveryRouteInTheSpecIsServed) {
    const auto served = served_operations();
    for (const auto& operation : spec_operations())
        EXPECT_TRUE(served.contains(operation))
            << operation << " is in openapi.yaml but not served";
}

TEST(OpenApi, NoRouteIsRegisteredTwice) {
    const auto router = admin_router();
    EXPECT_EQ(served_operations().size(), router.routes().size());
}

}  // namespace
}  // namespace smarthost::admin
