#include "relay/policy/spf.hpp"

#include <algorithm>

#include "core/ascii.hpp"

namespace smarthost::policy {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::vector<std::string_view> split_terms(std::string_view text) {
    std::vector<std::string_view> terms;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = std::min(text.find(' ', start), text.size());
        if (end > start) terms.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return terms;
}

// A cidr length: "0" or no leading zero, at most `max`.
std::optional<int> prefix_length(std::string_view digits, int max) {
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
    int value = 0;
    for (char c : digits) {
        if (!is_digit(c)) return std::nullopt;
        value = value * 10 + (c - '0');
    }
    if (value > max) return std::nullopt;
    return value;
}

// domain-end (RFC 7208 section 7.1): "." toplabel ["."], a toplabel being letters, digits
// and inner hyphens with at least one letter.
bool valid_domain_end(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    const auto top = name.substr(dot + 1);
    if (top.empty() || top.front() == '-' || top.back() == '-') return false;
    bool letter = false;
    for (char c : top) {
        if (is_alpha(c)) {
            letter = true;
        } else if (!is_digit(c) && c != '-') {
            return false;
        }
    }
    return letter;
}

// A macro-string (section 7.1): visible characters, '%' only as %%, %_, %- or %{...}.
bool valid_macro_string(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c < 0x21 || c > 0x7e) return false;
        if (c != '%') continue;
        if (i + 1 >= text.size()) return false;
        const char next = text[++i];
        if (next == '%' || next == '_' || next == '-') continue;
        if (next != '{') return false;
        const auto close = text.find('}', i);
        if (close == std::string_view::npos || close == i + 1) return false;
        const char letter = ascii_lower(text[i + 1]);
        if (std::string_view("slodiphcrtv").find(letter) == std::string_view::npos) return false;
        i = close;
    }
    return true;
}

bool valid_domain_spec(std::string_view spec) {
    if (spec.empty() || !valid_macro_string(spec)) return false;
    // A spec ending in a macro expansion needs no literal top label.
    if (spec.find('%') != std::string_view::npos) return true;
    return valid_domain_end(spec);
}

std::optional<SpfResult> qualifier_of(char c) {
    switch (c) {
        case '+':
            return SpfResult::pass;
        case '-':
            return SpfResult::fail;
        case '~':
            return SpfResult::softfail;
        case '?':
            return SpfResult::neutral;
        default:
            return std::nullopt;
    }
}

std::optional<SpfTerm::Kind> mechanism_kind(std::string_view name) {
    using Kind = SpfTerm::Kind;
    static constexpr std::pair<std::string_view, Kind> k_names[] = {
        {"all", Kind::all}, {"include", Kind::include}, {"a", Kind::a},
        {"mx", Kind::mx},   {"ptr", Kind::ptr},         {"ip4", Kind::ip4},
        {"ip6", Kind::ip6}, {"exists", Kind::exists},
    };
    for (const auto& [text, kind] : k_names)
        if (iequals(name, text)) return kind;
    return std::nullopt;
}

// Parses one directive into `term`; "" or why it is malformed.
std::string parse_directive(std::string_view text, SpfTerm& term) {
    using Kind = SpfTerm::Kind;
    const std::string original(text);
    if (auto qualifier = qualifier_of(text.front())) {
        term.qualifier = *qualifier;
        text.remove_prefix(1);
    }
    const auto name_end = std::min(text.find_first_of(":/"), text.size());
    const auto kind = mechanism_kind(text.substr(0, name_end));
    if (!kind) return "unknown mechanism \"" + original + "\"";
    term.kind = *kind;
    text.remove_prefix(name_end);
    const auto bad = [&] { return "malformed mechanism \"" + original + "\""; };

    switch (*kind) {
        case Kind::all:
            return text.empty() ? "" : bad();
        case Kind::include:
        case Kind::exists:
            if (text.empty() || text.front() != ':') return bad();
            term.domain = std::string(text.substr(1));
            return valid_domain_spec(term.domain) ? "" : bad();
        case Kind::ptr:
            if (text.empty()) return "";
            if (text.front() != ':') return bad();
            term.domain = std::string(text.substr(1));
            return valid_domain_spec(term.domain) ? "" : bad();
        case Kind::a:
        case Kind::mx: {
            const auto slash = std::min(text.find('/'), text.size());
            auto spec = text.substr(0, slash);
            auto cidr = text.substr(slash);
            if (!spec.empty()) {
                if (spec.front() != ':') return bad();
                term.domain = std::string(spec.substr(1));
                if (!valid_domain_spec(term.domain)) return bad();
            }
            // dual-cidr-length: "/n", "//m" or "/n//m".
            const auto ipv6_at = cidr.find("//");
            auto ipv4_part = cidr.substr(0, ipv6_at);
            if (!ipv4_part.empty()) {
                auto length = prefix_length(ipv4_part.substr(1), 32);
                if (!length) return bad();
                term.ipv4_prefix = *length;
            }
            if (ipv6_at != std::string_view::npos) {
                auto length = prefix_length(cidr.substr(ipv6_at + 2), 128);
                if (!length) return bad();
                term.ipv6_prefix = *length;
            }
            return "";
        }
        case Kind::ip4:
        case Kind::ip6: {
            if (text.empty() || text.front() != ':') return bad();
            text.remove_prefix(1);
            const bool ipv6 = *kind == Kind::ip6;
            const auto slash = text.find('/');
            if (slash != std::string_view::npos &&
                !prefix_length(text.substr(slash + 1), ipv6 ? 128 : 32))
                return bad();
            auto network = Network::parse(text);
            if (!network || network->ipv6() != ipv6) return bad();
            term.network = *network;
            return "";
        }
    }
    return bad();
}

// A modifier's name (section 12): ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
bool valid_modifier_name(std::string_view name) {
    if (name.empty() || !is_alpha(name.front())) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.';
    });
}

}  // namespace

const char* to_string(SpfResult result) {
    switch (result) {
        case SpfResult::none:
            return "none";
        case SpfResult::neutral:
            return "neutral";
        case SpfResult::pass:
            return "pass";
        case SpfResult::fail:
            return "fail";
        case SpfResult::softfail:
            return "softfail";
        case SpfResult::temperror:
            return "temperror";
        case SpfResult::permerror:
            return "permerror";
        case SpfResult::unknown:
            break;
    }
    return "unknown";
}

bool is_spf_record(std::string_view text) {
    return istarts_with(text, "v=spf1") && (text.size() == 6 || text[6] == ' ');
}

SpfParse parse_spf(std::string_view text) {
    if (!is_spf_record(text)) return {std::nullopt, "the record does not start with v=spf1"};
    SpfRecord record;
    bool seen_exp = false;
    const auto terms = split_terms(text.substr(6));
    for (const auto term_text : terms) {
        const auto equals = term_text.find('=');
        const auto colon_or_slash = term_text.find_first_of(":/");
        if (equals != std::string_view::npos && equals < colon_or_slash) {
            const auto name = term_text.substr(0, equals);
            const auto value = term_text.substr(equals + 1);
            if (!valid_modifier_name(name))
                return {std::nullopt, "malformed modifier \"" + std::string(term_text) + "\""};
            if (iequals(name, "redirect") || iequals(name, "exp")) {
                if (!valid_domain_spec(value))
                    return {std::nullopt, "malformed modifier \"" + std::string(term_text) + "\""};
                // Section 6: each at most once.
                const bool redirect = iequals(name, "redirect");
                if (redirect ? record.redirect.has_value() : seen_exp)
                    return {std::nullopt, "more than one " + to_lower(name) + "= modifier"};
                if (redirect) {
                    record.redirect = std::string(value);
                } else {
                    seen_exp = true;
                }
            } else if (!valid_macro_string(value)) {
                return {std::nullopt, "malformed modifier \"" + std::string(term_text) + "\""};
            }
            continue;
        }
        SpfTerm term;
        auto error = parse_directive(term_text, term);
        if (!error.empty()) return {std::nullopt, std::move(error)};
        record.terms.push_back(std::move(term));
    }
    return {std::move(record), ""};
}

}  // namespace smarthost::policy
