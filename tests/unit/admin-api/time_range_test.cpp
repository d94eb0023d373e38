#include "admin-api/time_range.hpp"

#include <gtest/gtest.h>

namespace smarthost::admin {
namespace {

std::vector<std::string> fields_of(const std::vector<FieldError>& errors) {
    std::vector<std::string> fields;
    for (const auto& error : errors)
        fields.push_back(error.field);
    return fields;
}

TEST(TimeRange, AcceptsRfc3339Timestamps) {
    for (const auto* good :
         {"2026-11-25T13:50:00Z", "2026-11-25t13:50:00z", "2026-11-25 13:50:00Z",
          "2026-11-25T13:50:00.123456+01:00", "2024-02-29T00:00:00-05:30", "2026-12-31T23:59:60Z"})
        EXPECT_TRUE(is_rfc3339_timestamp(good)) << good;
}

TEST(TimeRange, RefusesOtherTimeTexts) {
    for (const auto* bad :
         {"", "2026-11-25", "2026-11-25T13:50:00", "2026-11-25T13:50Z", "2026-13-01T00:00:00Z",
          "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-25T24:00:00Z",
          "2026-11-25T13:60:00Z", "2026-11-25T13:50:00.Z", "2026-11-25T13:50:00+0100",
          "2026-11-25T13:50:00+24:00", "now", "1700000000", "2026-11-25T13:50:00Z junk"})
        EXPECT_FALSE(is_rfc3339_timestamp(bad)) << bad;
}

TEST(TimeRange, ReadsFromToAndNamedWindows) {
    std::vector<FieldError> errors;
    auto range = read_time_range(
        parse_query("from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00%2B01:00"), true, errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(range.from, "2026-11-25T00:00:00Z");
    EXPECT_EQ(range.to, "2026-11-26T00:00:00+01:00");
    EXPECT_EQ(range.window_seconds, std::nullopt);

    range = read_time_range(parse_query("window=7d"), true, errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(range.window_seconds, 7 * 24 * 3600);
    EXPECT_EQ(read_time_range(parse_query("window=1h"), true, errors).window_seconds, 3600);
}

TEST(TimeRange, BadParametersAreNamed) {
    std::vector<FieldError> errors;
    read_time_range(parse_query("from=yesterday&to=2026-11-25&window=2d"), true, errors);
    EXPECT_EQ(fields_of(errors), (std::vector<std::string>{"from", "to", "window"}));
    errors.clear();
    read_time_range(parse_query("to=2026-11-25T00:00:00+01:00"), true, errors);
    ASSERT_EQ(fields_of(errors), std::vector<std::string>{"to"});
    EXPECT_NE(errors[0].message.find("%2B"), std::string::npos) << errors[0].message;
    errors.clear();
    read_time_range(parse_query("from=2026-11-25T00:00:00Z&window=1h"), true, errors);
    EXPECT_EQ(fields_of(errors), std::vector<std::string>{"window"});
    errors.clear();
    // Where no window is offered, the parameter is not read.
    read_time_range(parse_query("window=2d"), false, errors);
    EXPECT_TRUE(errors.empty());
}

}  // namespace
}  // namespace smarthost::admin
