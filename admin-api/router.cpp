#include "admin-api/router.hpp"

#include <algorithm>
#include <charconv>

namespace smarthost::admin {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    if (path.starts_with('/')) start = 1;
    while (start <= path.size()) {
        const auto slash = path.find('/', start);
        const auto end = slash == std::string_view::npos ? path.size() : slash;
        segments.push_back(path.substr(start, end - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return segments;
}

bool is_placeholder(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

std::optional<std::vector<std::pair<std::string, std::string>>> match_pattern(
    std::string_view pattern, const std::vector<std::string_view>& path) {
    const auto expected = split_path(pattern);
    if (expected.size() != path.size()) return std::nullopt;
    std::vector<std::pair<std::string, std::string>> params;
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (is_placeholder(expected[i])) {
            if (path[i].empty()) return std::nullopt;
            params.emplace_back(std::string(expected[i].substr(1, expected[i].size() - 2)),
                                std::string(path[i]));
        } else if (expected[i] != path[i]) {
            return std::nullopt;
        }
    }
    return params;
}

}  // namespace

std::string_view RequestContext::param(std::string_view name) const {
    for (const auto& [key, value] : params)
        if (key == name) return value;
    return {};
}

std::optional<std::int64_t> RequestContext::id_param(std::string_view name) const {
    return parse_id(param(name));
}

std::optional<std::int64_t> parse_id(std::string_view text) {
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (text.empty() || text.front() == '0' || ec != std::errc() ||
        end != text.data() + text.size() || id <= 0)
        return std::nullopt;
    return id;
}

void Router::add(std::string method, std::string pattern, Handler handler, Access access) {
    routes_.push_back(Route{std::move(method), std::move(pattern), std::move(handler), access});
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
    const auto segments = split_path(path);
    Match result;
    for (const auto& route : routes_) {
        auto params = match_pattern(route.pattern, segments);
        if (!params) continue;
        if (route.method == method && !result.route) {
            result.route = &route;
            result.params = std::move(*params);
        }
        if (std::find(result.allow.begin(), result.allow.end(), route.method) == result.allow.end())
            result.allow.push_back(route.method);
    }
    return result;
}

}  // namespace smarthost::admin
