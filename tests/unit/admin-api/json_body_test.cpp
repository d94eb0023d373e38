#include "admin-api/json_body.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cctype>

namespace smarthost::admin {
namespace {

namespace json = boost::json;
constexpr std::string_view k_fields[] = {"name", "limits"};

Request json_request(std::string body, std::string content_type = "application/json") {
    Request request;
    request.method = "POST";
    request.content_type = std::move(content_type);
    request.body = std::move(body);
    return request;
}

unsigned status_of(const std::variant<json::object, Response>& parsed) {
    const auto* response = std::get_if<Response>(&parsed);
    return response ? response->status : 0;
}

TEST(JsonBody, ParsesAnObjectWithKnownFields) {
    const auto parsed = parse_object(json_request(R"({"name":"a"})"), k_fields);
    ASSERT_TRUE(std::holds_alternative<json::object>(parsed));
}

TEST(JsonBody, AcceptsCharsetAndJsonSuffixTypes) {
    EXPECT_EQ(
        status_of(parse_object(json_request("{}", "application/json; charset=utf-8"), k_fields)),
        0u);
    EXPECT_EQ(status_of(parse_object(json_request("{}", "application/merge-patch+json"), k_fields)),
              0u);
}

TEST(JsonBody, EmptyBodyIsAnEmptyObject) {
    EXPECT_EQ(status_of(parse_object(json_request("", ""), k_no_fields)), 0u);
}

TEST(JsonBody, RefusesOtherMediaTypesWith415) {
    EXPECT_EQ(status_of(parse_object(json_request("{}", "text/plain"), k_fields)), 415u);
    EXPECT_EQ(status_of(parse_object(json_request("{}", ""), k_fields)), 415u);
}

TEST(JsonBody, MalformedJsonAndNonObjectsAre400) {
    EXPECT_EQ(status_of(parse_object(json_request("{\"name\":"), k_fields)), 400u);
    EXPECT_EQ(status_of(parse_object(json_request("[1,2]"), k_fields)), 400u);
}

TEST(JsonBody, UnknownFieldsAre422WithTheirNames) {
    const auto parsed = parse_object(json_request(R"({"name":"a","colour":1})"), k_fields);
    ASSERT_EQ(status_of(parsed), 422u);
    const auto body = json::parse(std::get<Response>(parsed).body).as_object();
    EXPECT_EQ(body.at("errors").as_array()[0].at("field").as_string(), "colour");
}

TEST(FieldReader, LimitsMustBeNonNegativeIntegersOrNull) {
    const auto object = json::parse(R"({"a":5,"b":-1,"c":null,"d":1.5,"e":"7","f":3000000000,)"
                                    R"("g":18446744073709551615})")
                            .as_object();
    FieldReader fields(object);
    EXPECT_EQ(fields.limit("a", 100), std::optional<std::int64_t>{5});
    EXPECT_EQ(fields.limit("b", 100), std::nullopt);
    const auto c = fields.limit("c", 100);
    ASSERT_TRUE(c.has_value());
    EXPECT_FALSE(c->has_value());
    EXPECT_EQ(fields.limit("d", 100), std::nullopt);
    EXPECT_EQ(fields.limit("e", 100), std::nullopt);
    EXPECT_EQ(fields.limit("f", 2147483647), std::nullopt);
    EXPECT_EQ(fields.limit("g", 2147483647), std::nullopt);
    EXPECT_EQ(fields.limit("absent", 100), std::nullopt);
    EXPECT_EQ(fields.errors().size(), 5u);
}

TEST(FieldReader, NestedReadersPrefixFieldNames) {
    const auto object = json::parse(R"({"limits":{"x":-1}})").as_object();
    FieldReader fields(object);
    const auto* limits = fields.object("limits");
    ASSERT_NE(limits, nullptr);
    auto nested = fields.nested(*limits, "limits");
    nested.limit("x", 10);
    ASSERT_EQ(fields.errors().size(), 1u);
    EXPECT_EQ(fields.errors()[0].field, "limits.x");
}

TEST(FieldReader, StringsAreBoundedAndTyped) {
    const auto object = json::parse(R"({"a":"ok","b":"","c":5,"d":"toolong"})").as_object();
    FieldReader fields(object);
    EXPECT_EQ(fields.string("a", 5), "ok");
    EXPECT_EQ(fields.string("b", 5), std::nullopt);
    EXPECT_EQ(fields.string("c", 5), std::nullopt);
    EXPECT_EQ(fields.string("d", 5), std::nullopt);
    EXPECT_EQ(fields.errors().size(), 3u);
}

std::optional<std::string> upper_if_short(std::string_view text, std::string& why) {
    if (text.size() > 3) {
        why = "too long for this test";
        return std::nullopt;
    }
    std::string out(text);
    for (auto& c : out)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

TEST(FieldReader, RequiredCanonicalGivesTheCanonicalFormOrOneNamedError) {
    const auto object = json::parse(R"({"a":"abc","b":"abcd","c":5,"d":""})").as_object();
    FieldReader fields(object);
    EXPECT_EQ(fields.required_canonical("a", 10, upper_if_short), "ABC");
    EXPECT_TRUE(fields.ok());
    EXPECT_EQ(fields.required_canonical("b", 10, upper_if_short), std::nullopt);
    EXPECT_EQ(fields.required_canonical("c", 10, upper_if_short), std::nullopt);
    EXPECT_EQ(fields.required_canonical("d", 10, upper_if_short), std::nullopt);
    EXPECT_EQ(fields.required_canonical("missing", 10, upper_if_short), std::nullopt);
    EXPECT_EQ(fields.required_canonical("a", 2, upper_if_short), std::nullopt);  // too long
    ASSERT_EQ(fields.errors().size(), 5u);
    EXPECT_EQ(fields.errors()[0].field, "b");
    EXPECT_EQ(fields.errors()[0].message, "too long for this test");
    EXPECT_EQ(fields.errors()[1].message, "must be a string");
    EXPECT_EQ(fields.errors()[2].message, "must not be empty");
    EXPECT_EQ(fields.errors()[3].field, "missing");
    EXPECT_EQ(fields.errors()[3].message, "is required");
    EXPECT_EQ(fields.errors()[4].field, "a");
}

}  // namespace
}  // namespace smarthost::admin
