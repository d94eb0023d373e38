// Arbitrary request targets through the admin API's parse_request_target and the real
// route table (api_router(), DESIGN.md contract 10). Invariants: no crash; an accepted
// target is origin-form in its one spelling (no "//", no dot segment, no '%', no
// fragment); a matched route is reached by exactly one spelling: its pattern with the
// captured segments put back gives the path byte for byte, and a numeric {id} is written
// as the id it stands for ("7", never "07"), a message id as the UUID it stands for;
// every /api/v1 route needs a token.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin-api/api_routes.hpp"
#include "admin-api/messages.hpp"
#include "admin-api/request_target.hpp"
#include "admin-api/router.hpp"

namespace {

using namespace smarthost::admin;

void check(bool condition) {
    if (!condition) std::abort();
}

constexpr std::string_view k_methods[] = {"GET",    "POST", "PUT",     "PATCH",
                                          "DELETE", "HEAD", "OPTIONS", "get"};

// The pattern with each {name} replaced by its captured segment, in order.
std::string spelled(std::string_view pattern, const Router::Match& match) {
    std::string out;
    std::size_t param = 0;
    while (!pattern.empty()) {
        const auto open = pattern.find('{');
        out.append(pattern.substr(0, open));
        if (open == std::string_view::npos) break;
        const auto close = pattern.find('}', open);
        check(close != std::string_view::npos && param < match.params.size());
        check(match.params[param].first == pattern.substr(open + 1, close - open - 1));
        out += match.params[param++].second;
        pattern.remove_prefix(close + 1);
    }
    check(param == match.params.size());
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Router router = api_router();
    if (size < 1) return 0;
    const std::string_view method = k_methods[data[0] % std::size(k_methods)];
    const std::string_view target(reinterpret_cast<const char*>(data + 1), size - 1);

    const auto parsed = parse_request_target(target);
    if (!parsed) return 0;
    const std::string& path = parsed->path;
    check(target.starts_with(path));
    check(path.starts_with('/'));
    check(path.find("//") == std::string::npos);
    check(path.find('%') == std::string::npos);
    check(path.find("/./") == std::string::npos && !path.ends_with("/."));
    check(path.find("/../") == std::string::npos && !path.ends_with("/.."));
    check(path == "/" || !path.ends_with('/'));
    check(parsed->query.find('#') == std::string::npos);
    check(path.size() + (target.size() > path.size() ? 1 + parsed->query.size() : 0) ==
          target.size());

    const auto match = router.match(method, path);
    if (!match.route) {
        check(match.params.empty());
        return 0;
    }
    check(match.route->method == method);
    check(match.route->access == Access::token);
    check(spelled(match.route->pattern, match) == path);
    for (const auto& [name, value] : match.params) {
        check(!value.empty() && value.find('/') == std::string::npos);
        if (name != "id") continue;
        if (path.starts_with("/api/v1/messages/")) {
            // A message id is a UUID: with or without its dashes (the queue id of "queued
            // as"), in either case (RFC 9562 section 4). Nothing else may name it.
            if (const auto id = parse_message_id(value)) {
                std::string folded;
                for (char c : value)
                    if (c != '-') folded.push_back(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
                check(folded == *id);
                check(value.size() == 32 || value.size() == 36);
            }
        } else if (const auto id = parse_id(value)) {
            check(std::to_string(*id) == value);
        }
    }
    return 0;
}
