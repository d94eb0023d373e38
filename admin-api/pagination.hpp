#pragma once
// Query strings and keyset pagination: ?limit=N (1..500, default 50) and ?cursor=C, where
// C is the opaque next_cursor of the previous page (the last id seen).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin-api/problem.hpp"

namespace smarthost::admin {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Splits and percent-decodes "a=1&b=x%20y"; '+' is a space (HTML forms).
QueryParams parse_query(std::string_view query);
std::optional<std::string> query_value(const QueryParams& params, std::string_view name);

struct Page {
    static constexpr std::int64_t default_limit = 50;
    static constexpr std::int64_t max_limit = 500;
    std::int64_t limit = default_limit;
    std::optional<std::int64_t> cursor;
};

// Appends a FieldError for a bad limit or cursor.
Page read_page(const QueryParams& params, std::vector<FieldError>& errors);

}  // namespace smarthost::admin

namespace smarthost::pg {
class Rows;
}

namespace smarthost::admin {

// A page as {"items": [...], "next_cursor": "…" | null}. Column 0 of each row is a JSON
// object (text), column 1 the id the next page continues from; the query fetched
// limit + 1 rows so that a further page can be told apart from the last one.
Response page_response(const pg::Rows& rows, std::int64_t limit);

}  // namespace smarthost::admin
