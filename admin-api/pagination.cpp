#include "admin-api/pagination.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "core/pg/pool.hpp"

namespace smarthost::admin {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out.push_back(' ');
        } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

}  // namespace

QueryParams parse_query(std::string_view query) {
    QueryParams params;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos)
            params.emplace_back(decode(pair), "");
        else
            params.emplace_back(decode(pair.substr(0, eq)), decode(pair.substr(eq + 1)));
    }
    return params;
}

std::optional<std::string> query_value(const QueryParams& params, std::string_view name) {
    for (const auto& [key, value] : params)
        if (key == name) return value;
    return std::nullopt;
}

Page read_page(const QueryParams& params, std::vector<FieldError>& errors) {
    Page page;
    if (auto text = query_value(params, "limit")) {
        const auto limit = parse_int(*text);
        if (!limit || *limit < 1 || *limit > Page::max_limit)
            errors.push_back(
                {"limit", "must be an integer from 1 to " + std::to_string(Page::max_limit)});
        else
            page.limit = *limit;
    }
    if (auto text = query_value(params, "cursor")) {
        const auto cursor = parse_int(*text);
        if (!cursor || *cursor < 0)
            errors.push_back({"cursor", "must be a next_cursor value from a previous page"});
        else
            page.cursor = cursor;
    }
    return page;
}

}  // namespace smarthost::admin

namespace smarthost::admin {

Response page_response(const pg::Rows& rows, std::int64_t limit) {
    namespace json = boost::json;
    json::array items;
    const auto shown = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(limit));
    for (std::size_t row = 0; row < shown; ++row)
        items.push_back(json::parse(rows.get(row, 0)));
    json::object body;
    body["items"] = std::move(items);
    if (rows.size() > shown && shown > 0)
        body["next_cursor"] = std::string(rows.get(shown - 1, 1));
    else
        body["next_cursor"] = nullptr;
    return json_response(200, json::serialize(body));
}

}  // namespace smarthost::admin
