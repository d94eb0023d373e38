#include "relay/dkim/canonicalization.hpp"

#include "core/ascii.hpp"

namespace smarthost::dkim {
namespace {

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

// Unfolds `value` and makes every run of white space one space, dropping it at both ends.
void append_relaxed_value(std::string& out, std::string_view value) {
    bool pending_space = false;
    bool started = false;
    for (const char c : value) {
        if (c == '\r' || c == '\n') continue;  // unfolding: the CRLF goes, the WSP after stays
        if (is_wsp(c)) {
            pending_space = started;
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        started = true;
        out += c;
    }
}

// Buffers the canonical body and hands it to the sink in pieces of about this size.
constexpr std::size_t k_sink_chunk = 16384;

}  // namespace

const char* to_string(Canonicalization canonicalization) {
    return canonicalization == Canonicalization::relaxed ? "relaxed" : "simple";
}

std::optional<Canonicalization> parse_canonicalization(std::string_view text) {
    if (iequals(text, "relaxed")) return Canonicalization::relaxed;
    if (iequals(text, "simple")) return Canonicalization::simple;
    return std::nullopt;
}

std::string canonical_header(std::string_view name, std::string_view raw_value,
                             std::string_view raw_field, Canonicalization canonicalization) {
    if (canonicalization == Canonicalization::simple) {
        std::string field(raw_field);
        field += "\r\n";
        return field;
    }
    std::string field;
    field.reserve(name.size() + raw_value.size() + 3);
    for (const char c : name)
        field += ascii_lower(c);
    field += ':';
    append_relaxed_value(field, raw_value);
    field += "\r\n";
    return field;
}

void canonicalize_body(std::string_view body, Canonicalization canonicalization,
                       const std::function<void(std::string_view)>& sink) {
    const bool relaxed = canonicalization == Canonicalization::relaxed;
    std::string out;
    out.reserve(std::min(body.size(), k_sink_chunk) + 2);
    std::size_t empty_lines = 0;  // held back until a non-empty line shows they are not trailing
    bool any_line = false;
    const auto flush_if_full = [&] {
        if (out.size() < k_sink_chunk) return;
        sink(out);
        out.clear();
    };
    while (!body.empty()) {
        const auto eol = body.find("\r\n");
        std::string_view line = body.substr(0, eol);
        body.remove_prefix(eol == std::string_view::npos ? body.size() : eol + 2);
        if (relaxed)
            while (!line.empty() && is_wsp(line.back()))
                line.remove_suffix(1);
        if (line.empty()) {
            ++empty_lines;
            continue;
        }
        for (; empty_lines > 0; --empty_lines)
            out += "\r\n";
        if (relaxed) {
            bool in_space = false;
            for (const char c : line) {
                if (is_wsp(c)) {
                    if (!in_space) out += ' ';
                    in_space = true;
                } else {
                    out += c;
                    in_space = false;
                }
            }
        } else {
            out += line;
        }
        out += "\r\n";
        any_line = true;
        flush_if_full();
    }
    // An empty body is CRLF in simple and nothing in relaxed (RFC 6376 section 3.4.3-3.4.4).
    if (!any_line && !relaxed) out += "\r\n";
    if (!out.empty()) sink(out);
}

std::string canonical_body(std::string_view body, Canonicalization canonicalization) {
    std::string result;
    canonicalize_body(body, canonicalization,
                      [&result](std::string_view piece) { result += piece; });
    return result;
}

std::size_t body_offset(std::string_view message) {
    if (message.starts_with("\r\n")) return 2;
    const auto end = message.find("\r\n\r\n");
    return end == std::string_view::npos ? message.size() : end + 4;
}

}  // namespace smarthost::dkim
