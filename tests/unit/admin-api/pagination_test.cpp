#include "admin-api/pagination.hpp"

#include <gtest/gtest.h>

namespace smarthost::admin {
namespace {

TEST(Query, SplitsAndDecodes) {
    const auto params = parse_query("name=a%2Bb+c&status=active&flag&=x");
    EXPECT_EQ(query_value(params, "name"), "a+b c");
    EXPECT_EQ(query_value(params, "status"), "active");
    EXPECT_EQ(query_value(params, "flag"), "");
    EXPECT_EQ(query_value(params, "missing"), std::nullopt);
}

TEST(Query, KeepsMalformedEscapesLiterally) {
    EXPECT_EQ(query_value(parse_query("a=%zz%4"), "a"), "%zz%4");
}

TEST(Page, DefaultsAndBounds) {
    std::vector<FieldError> errors;
    auto page = read_page(parse_query(""), errors);
    EXPECT_EQ(page.limit, 50);
    EXPECT_EQ(page.cursor, std::nullopt);
    page = read_page(parse_query("limit=500&cursor=12"), errors);
    EXPECT_EQ(page.limit, 500);
    EXPECT_EQ(page.cursor, 12);
    EXPECT_TRUE(errors.empty());
}

TEST(Page, RefusesBadLimitAndCursor) {
    for (const auto* query :
         {"limit=0", "limit=501", "limit=-1", "limit=x", "cursor=abc", "cursor=-5"}) {
        std::vector<FieldError> errors;
        read_page(parse_query(query), errors);
        EXPECT_EQ(errors.size(), 1u) << query;
    }
}

}  // namespace
}  // namespace smarthost::admin
