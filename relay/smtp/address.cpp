#include "relay/smtp/address.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>

#include "relay/smtp/command_parser.hpp"
#include "relay/smtp/punycode.hpp"

namespace smarthost::smtp {

namespace {

constexpr std::size_t k_max_label_octets = 63;

bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// atext of RFC 5322 section 3.2.3, plus UTF8-non-ascii under RFC 6531.
bool is_atext(unsigned char c, bool utf8) {
    if (is_alpha(c) || is_digit(c)) return true;
    if (c >= 0x80) return utf8;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '/':
        case '=':
        case '?':
        case '^':
        case '_':
        case '`':
        case '{':
        case '|':
        case '}':
        case '~':
            return true;
        default:
            return false;
    }
}

bool is_dot_string(std::string_view text, bool utf8) {
    if (text.empty() || text.front() == '.' || text.back() == '.') return false;
    char previous = 0;
    for (char c : text) {
        if (c == '.') {
            if (previous == '.') return false;
        } else if (!is_atext(static_cast<unsigned char>(c), utf8)) {
            return false;
        }
        previous = c;
    }
    return true;
}

// Quoted-string = DQUOTE *QcontentSMTP DQUOTE (RFC 5321 section 4.1.2).
bool is_quoted_string(std::string_view text, bool utf8) {
    if (text.size() < 2 || text.front() != '"' || text.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c == '\\') {
            if (i + 2 >= text.size()) return false;  // the escape would eat the closing quote
            auto escaped = static_cast<unsigned char>(text[++i]);
            if (escaped < 32 || escaped > 126) return false;
        } else if (c >= 0x80) {
            if (!utf8) return false;
        } else if (c == '"' || c < 32 || c > 126) {
            return false;
        }
    }
    return true;
}

// Where the local part ends: the "@" that is outside a quoted string.
std::size_t local_part_end(std::string_view text) {
    if (!text.empty() && text.front() == '"') {
        for (std::size_t i = 1; i < text.size(); ++i) {
            if (text[i] == '\\') {
                ++i;
            } else if (text[i] == '"') {
                return i + 1;
            }
        }
        return text.size();
    }
    return text.find('@');
}

bool is_snum(std::string_view text) {
    if (text.empty() || text.size() > 3) return false;
    int value = 0;
    for (char c : text) {
        if (!is_digit(static_cast<unsigned char>(c))) return false;
        value = value * 10 + (c - '0');
    }
    return value <= 255;
}

bool is_ipv4(std::string_view text) {
    for (int part = 0; part < 4; ++part) {
        auto dot = text.find('.');
        if ((part < 3) != (dot != std::string_view::npos)) return false;
        if (!is_snum(text.substr(0, dot))) return false;
        text = part < 3 ? text.substr(dot + 1) : std::string_view();
    }
    return true;
}

bool is_hex_group(std::string_view text) {
    if (text.empty() || text.size() > 4) return false;
    for (char c : text) {
        if (!is_hex(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

// Counts the 16-bit groups of a colon-separated list, or -1 when one is malformed. A
// trailing IPv4 address counts as two groups.
int count_groups(std::string_view text, bool ipv4_allowed_last) {
    if (text.empty()) return 0;
    int groups = 0;
    for (;;) {
        auto colon = text.find(':');
        auto group = text.substr(0, colon);
        if (colon == std::string_view::npos && ipv4_allowed_last && is_ipv4(group)) {
            return groups + 2;
        }
        if (!is_hex_group(group)) return -1;
        ++groups;
        if (colon == std::string_view::npos) return groups;
        text = text.substr(colon + 1);
    }
}

// IPv6-addr of RFC 5321 section 4.1.3 (full, compressed, with or without IPv4 tail).
bool is_ipv6(std::string_view text) {
    auto gap = text.find("::");
    if (gap == std::string_view::npos) return count_groups(text, true) == 8;
    auto head = text.substr(0, gap);
    auto tail = text.substr(gap + 2);
    if (tail.find("::") != std::string_view::npos) return false;
    int head_groups = count_groups(head, false);
    int tail_groups = count_groups(tail, true);
    return head_groups >= 0 && tail_groups >= 0 && head_groups + tail_groups <= 6;
}

bool is_label(std::string_view label, bool allow_underscore, bool utf8) {
    if (label.empty() || label.size() > k_max_label_octets) return false;
    auto letter_or_digit = [&](unsigned char c) {
        return is_alpha(c) || is_digit(c) || (utf8 && c >= 0x80);
    };
    if (!letter_or_digit(static_cast<unsigned char>(label.front()))) return false;
    if (!letter_or_digit(static_cast<unsigned char>(label.back()))) return false;
    for (char c : label) {
        auto u = static_cast<unsigned char>(c);
        if (!letter_or_digit(u) && u != '-' && !(allow_underscore && u == '_')) return false;
    }
    return true;
}

bool has_non_ascii(std::string_view text) {
    for (char c : text)
        if (static_cast<unsigned char>(c) >= 0x80) return true;
    return false;
}

// A local part as written, quotes resolved: the dot-string itself, or the quoted
// string's content re-quoted with only the escapes it needs.
std::string canonical_local_part(std::string_view local) {
    if (local.size() < 2 || local.front() != '"') return to_lower(local);
    std::string content;
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
        if (local[i] == '\\') ++i;
        content.push_back(local[i]);
    }
    if (is_dot_string(content, true)) return to_lower(content);
    std::string quoted = "\"";
    for (char c : content) {
        if (c == '"' || c == '\\') quoted.push_back('\\');
        quoted.push_back(c);
    }
    quoted.push_back('"');
    return to_lower(quoted);
}

std::string canonical_domain(std::string_view domain) {
    if (domain.starts_with('[')) return to_lower(domain);  // an address literal
    std::string out;
    for (;;) {
        const auto dot = domain.find('.');
        const auto label = to_lower(domain.substr(0, dot));
        const auto encoded = has_non_ascii(label) ? punycode_encode(label) : std::nullopt;
        out += encoded ? "xn--" + *encoded : label;
        if (dot == std::string_view::npos) return out;
        out += '.';
        domain.remove_prefix(dot + 1);
    }
}

}  // namespace

std::string canonical_address(const Mailbox& mailbox) {
    std::string out = canonical_local_part(mailbox.local_part);
    if (mailbox.domain.empty()) return out;
    return out + "@" + canonical_domain(mailbox.domain);
}

std::string canonical_address(std::string_view address) {
    constexpr auto k_unlimited = std::numeric_limits<std::size_t>::max() / 2;
    Mailbox mailbox;
    if (parse_mailbox(address, true, mailbox, AddressLimits{k_unlimited, k_unlimited}) !=
        MailboxError::none) {
        return to_lower(address);
    }
    return canonical_address(mailbox);
}

std::string Mailbox::address() const {
    if (domain.empty()) return local_part;
    return local_part + "@" + domain;
}

bool is_valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code_point = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
            code_point = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
            code_point = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
            code_point = c & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            auto continuation = static_cast<unsigned char>(text[i + k]);
            if ((continuation & 0xC0) != 0x80) return false;
            code_point = (code_point << 6) | (continuation & 0x3F);
        }
        if ((length == 3 && code_point < 0x800) || (length == 4 && code_point < 0x10000) ||
            (code_point >= 0xD800 && code_point <= 0xDFFF) || code_point > 0x10FFFF) {
            return false;
        }
        i += length;
    }
    return true;
}

bool is_domain(std::string_view text, bool allow_underscore, bool utf8) {
    if (text.empty() || text.size() > k_max_domain_octets) return false;
    if (utf8 && !is_valid_utf8(text)) return false;
    for (;;) {
        auto dot = text.find('.');
        if (!is_label(text.substr(0, dot), allow_underscore, utf8)) return false;
        if (dot == std::string_view::npos) return true;
        text = text.substr(dot + 1);
    }
}

bool is_address_literal(std::string_view text) {
    if (text.size() < 3 || text.front() != '[' || text.back() != ']') return false;
    auto inside = text.substr(1, text.size() - 2);
    constexpr std::string_view k_ipv6_tag = "IPv6:";
    if (inside.size() > k_ipv6_tag.size()) {
        bool tagged = true;
        for (std::size_t i = 0; i < k_ipv6_tag.size(); ++i) {
            char a = inside[i];
            char b = k_ipv6_tag[i];
            if ((a | 0x20) != (b | 0x20)) tagged = false;
        }
        if (tagged) return is_ipv6(inside.substr(k_ipv6_tag.size()));
    }
    // General-address-literal (a standardized tag) is refused: none is registered that an
    // outbound relay could deliver to.
    return is_ipv4(inside);
}

MailboxError parse_mailbox(std::string_view path, bool utf8, Mailbox& out,
                           const AddressLimits& limits) {
    if (path.size() + 2 > limits.path_octets) return MailboxError::path_too_long;
    if (utf8 && !is_valid_utf8(path)) return MailboxError::syntax;

    // A-d-l ":" : "@domain" *("," "@domain") ":" (RFC 5321 section 4.1.2).
    if (!path.empty() && path.front() == '@') {
        auto colon = path.find(':');
        if (colon == std::string_view::npos) return MailboxError::syntax;
        auto route = path.substr(0, colon);
        for (;;) {
            auto comma = route.find(',');
            auto hop = route.substr(0, comma);
            if (hop.size() < 2 || hop.front() != '@' || !is_domain(hop.substr(1), false, utf8)) {
                return MailboxError::syntax;
            }
            if (comma == std::string_view::npos) break;
            route = route.substr(comma + 1);
        }
        path = path.substr(colon + 1);
    }

    auto end = local_part_end(path);
    auto local = path.substr(0, end);
    if (local.size() > limits.local_part_octets) return MailboxError::local_part_too_long;
    if (!is_dot_string(local, utf8) && !is_quoted_string(local, utf8)) {
        return MailboxError::syntax;
    }
    out.local_part = std::string(local);
    out.domain.clear();
    if (end == std::string_view::npos || end == path.size()) return MailboxError::no_domain;
    if (path[end] != '@') return MailboxError::syntax;
    auto domain = path.substr(end + 1);
    if (domain.size() > k_max_domain_octets) return MailboxError::domain_too_long;
    if (!is_domain(domain, false, utf8) && !is_address_literal(domain)) {
        return MailboxError::syntax;
    }
    out.domain = std::string(domain);
    return MailboxError::none;
}

}  // namespace smarthost::smtp
