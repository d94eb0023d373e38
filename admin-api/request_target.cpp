#include "admin-api/request_target.hpp"

namespace smarthost::admin {
namespace {

// A path character the routes can use: RFC 3986 unreserved, sub-delims, ':' and '@'.
// Not '%': no route needs an escaped octet, and "%2F" or "%2e" is how a second spelling
// of a path is made.
bool is_path_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':  // unreserved
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':  // sub-delims
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '@':
            return true;
        default:
            return false;
    }
}

// Printable ASCII except '#': a fragment is never part of a request target.
bool is_query_char(char c) {
    return c > 0x20 && c < 0x7f && c != '#';
}

bool valid_path(std::string_view path) {
    if (path == "/") return true;
    std::size_t start = 0;
    while (start < path.size()) {
        if (path[start] != '/') return false;
        const auto next = path.find('/', start + 1);
        const auto segment = path.substr(
            start + 1, (next == std::string_view::npos ? path.size() : next) - start - 1);
        if (segment.empty() || segment == "." || segment == "..") return false;
        for (const char c : segment)
            if (!is_path_char(c)) return false;
        if (next == std::string_view::npos) break;
        start = next;
    }
    return true;
}

}  // namespace

std::optional<RequestTarget> parse_request_target(std::string_view target) {
    const auto question = target.find('?');
    const auto path = target.substr(0, question);
    const auto query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    if (path.empty() || !valid_path(path)) return std::nullopt;
    for (const char c : query)
        if (!is_query_char(c)) return std::nullopt;
    return RequestTarget{std::string(path), std::string(query)};
}

}  // namespace smarthost::admin
