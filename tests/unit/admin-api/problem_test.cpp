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
    EXPECT_EQ(problem::from_database(Error{"shutting down", "57P01"}).status, 503u);
    EXPECT_EQ(problem::from_database(Error{"check", "23514"}).status, 422u);
    EXPECT_EQ(problem::from_database(Error{"bad input", "22P02"}).status, 422u);
    EXPECT_EQ(problem::from_database(Error{"bug", "42601"}).status, 500u);
}

// Issue 11 point 20: PostgreSQL's message names the table and constraint, and its detail
// holds the failing row; none of it may reach the client.
TEST(Problem, DatabaseRefusalsDoNotEchoPostgresMessages) {
    const Error check{
        "new row for relation \"credentials\" violates check constraint "
        "\"credentials_username_check\" (Failing row contains (7, 3, , $argon2id$v=19$m=65536, "
        "t, 2024-01-01 00:00:00+00))",
        "23514"};
    const auto response = problem::from_database(check);
    EXPECT_EQ(response.status, 422u);
    EXPECT_EQ(response.content_type, "application/problem+json");
    for (const char* secret : {"credentials", "check constraint", "Failing row", "argon2id"})
        EXPECT_EQ(response.body.find(secret), std::string::npos)
            << secret << " in " << response.body;
    EXPECT_NE(response.body.find(R"("detail":"a value breaks a rule of the stored data")"),
              std::string::npos)
        << response.body;

    const auto too_long =
        problem::from_database(Error{"value too long for type character varying(64)", "22001"});
    EXPECT_EQ(too_long.status, 422u);
    EXPECT_EQ(too_long.body.find("varying"), std::string::npos) << too_long.body;
    const auto range = problem::from_database(
        Error{"integer out of range (column \"max_connections\" of \"accounts\")", "22003"});
    EXPECT_EQ(range.body.find("accounts"), std::string::npos) << range.body;
    const auto bug =
        problem::from_database(Error{"relation \"allowed_networks\" does not exist", "42P01"});
    EXPECT_EQ(bug.status, 500u);
    EXPECT_EQ(bug.body.find("allowed_networks"), std::string::npos) << bug.body;
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
