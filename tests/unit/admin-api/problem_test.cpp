#include "admin-api/problem.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace smarthost::admin {
namespace {

namespace json = boost::json;

std::string header(const Response& response, std::string_view name) {
    for (const auto& [key, value] : response.headers)
        if (key == name) return value;
    return {};
}

TEST(Problem, ValidationListsEveryField) {
    const auto response =
        problem::validation({{"cidr", "not an address"}, {"limits.max_connections", "negative"}});
    EXPECT_EQ(response.status, 422u);
    EXPECT_EQ(response.content_type, "application/problem+json");
    const auto body = json::parse(response.body).as_object();
    EXPECT_EQ(body.at("status").as_int64(), 422);
    EXPECT_EQ(body.at("type").as_string(), "urn:smarthost:problem:validation");
    EXPECT_FALSE(body.at("title").as_string().empty());
    const auto& errors = body.at("errors").as_array();
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(errors[0].at("field").as_string(), "cidr");
    EXPECT_EQ(errors[1].at("field").as_string(), "limits.max_connections");
}

TEST(Problem, UnauthorizedCarriesBearerChallenge) {
    const auto response = problem::unauthorized("no token");
    EXPECT_EQ(response.status, 401u);
    EXPECT_TRUE(header(response, "WWW-Authenticate").starts_with("Bearer"));
}

TEST(Problem, MethodNotAllowedCarriesAllow) {
    const auto response = problem::method_not_allowed({"GET", "DELETE"});
    EXPECT_EQ(response.status, 405u);
    EXPECT_EQ(header(response, "Allow"), "GET, DELETE");
}

TEST(Problem, DatabaseErrorsMapToStatuses) {
    EXPECT_EQ(problem::from_database(Error{"gone", "", true}).status, 503u);
    EXPECT_EQ(problem::from_database(Error{"check", "23514"}).status, 422u);
    EXPECT_EQ(problem::from_database(Error{"bad input", "22P02"}).status, 422u);
    EXPECT_EQ(problem::from_database(Error{"bug", "42601"}).status, 500u);
}

TEST(Problem, OtherStatuses) {
    EXPECT_EQ(problem::malformed_json("x").status, 400u);
    EXPECT_EQ(problem::not_found("x").status, 404u);
    EXPECT_EQ(problem::conflict("x", "username", "taken").status, 409u);
    EXPECT_EQ(problem::payload_too_large(10).status, 413u);
    EXPECT_EQ(problem::unsupported_media_type("text/plain").status, 415u);
}

}  // namespace
}  // namespace smarthost::admin
