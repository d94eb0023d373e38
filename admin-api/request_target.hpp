#pragma once
// The request target of an admin API request, checked before anything else looks at it.
// Only origin-form (RFC 9112 section 3.2.1: "/path?query") is served, and only in the one
// spelling the router knows: a target that another component could read as a different
// path (no leading slash, absolute-form, "//", dot segments, percent-encoding, a trailing
// slash) is refused with 400, so no route can be reached under a second name.

#include <optional>
#include <string>
#include <string_view>

namespace smarthost::admin {

struct RequestTarget {
    std::string path;   // "/api/v1/accounts"
    std::string query;  // after '?', not decoded; empty without one
};

// nullopt: not a target this server serves (answer 400).
std::optional<RequestTarget> parse_request_target(std::string_view target);

}  // namespace smarthost::admin
