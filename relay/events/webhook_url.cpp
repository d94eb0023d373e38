#include "relay/events/webhook_url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace smarthost::events {
namespace {

bool is_address(const std::string& text, bool ipv6) {
    std::array<unsigned char, 16> octets{};
    return inet_pton(ipv6 ? AF_INET6 : AF_INET, text.c_str(), octets.data()) == 1;
}

// RFC 1123 host name: labels of letters, digits and '-', not starting or ending with '-'.
bool is_host_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    std::size_t label = 0;
    char previous = '.';
    for (const char c : name) {
        if (c == '.') {
            if (label == 0 || previous == '-') return false;
            label = 0;
        } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
            if (label == 0 && c == '-') return false;
            if (++label > 63) return false;
        } else {
            return false;
        }
        previous = c;
    }
    return label > 0 && previous != '-';
}

}  // namespace

std::optional<WebhookUrl> parse_webhook_url(std::string_view url, std::string& why) {
    if (url.size() > k_max_url_length) {
        why = "must be at most " + std::to_string(k_max_url_length) + " characters";
        return std::nullopt;
    }
    for (const char c : url) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet <= 0x20 || octet >= 0x7f) {
            why = "must not contain spaces, control or non-ASCII characters (percent-encode them)";
            return std::nullopt;
        }
    }
    WebhookUrl parsed;
    std::string_view rest;
    if (url.starts_with("https://")) {
        parsed.https = true;
        rest = url.substr(8);
    } else if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else {
        why = "must start with http:// or https://";
        return std::nullopt;
    }
    if (rest.find('#') != std::string_view::npos) {
        why = "must not have a fragment";
        return std::nullopt;
    }
    const auto authority_end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, authority_end);
    // Built by appending: GCC 12 warns falsely (-Wrestrict) on inserting at the front.
    const std::string_view target =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    if (target.empty() || target.front() == '?') parsed.target = "/";
    parsed.target.append(target);
    if (authority.find('@') != std::string_view::npos) {
        why = "must not contain a user name or password";
        return std::nullopt;
    }
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "has an unclosed [ in its host";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                why = "has characters after its host's ]";
                return std::nullopt;
            }
            port = after.substr(1);
            if (port.empty()) {
                why = "has an empty port";
                return std::nullopt;
            }
        }
        parsed.host = std::string(host);
        if (!is_address(parsed.host, true)) {
            why = "has an invalid IPv6 address";
            return std::nullopt;
        }
        parsed.host_is_address = true;
    } else {
        const auto colon = authority.rfind(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
            if (port.empty()) {
                why = "has an empty port";
                return std::nullopt;
            }
        }
        parsed.host = std::string(host);
        std::transform(parsed.host.begin(), parsed.host.end(), parsed.host.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (parsed.host.ends_with('.')) parsed.host.pop_back();
        parsed.host_is_address = is_address(parsed.host, false);
        if (!parsed.host_is_address && !is_host_name(parsed.host)) {
            why = "must have a host name or IP address";
            return std::nullopt;
        }
    }
    parsed.port = parsed.https ? 443 : 80;
    if (!port.empty()) {
        unsigned value = 0;
        for (const char c : port) {
            if (c < '0' || c > '9' || port.size() > 5) {
                why = "has an invalid port";
                return std::nullopt;
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535) {
            why = "has a port outside 1..65535";
            return std::nullopt;
        }
        parsed.port = static_cast<std::uint16_t>(value);
    }
    return parsed;
}

}  // namespace smarthost::events
