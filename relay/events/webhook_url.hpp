#pragma once
// A receiver's URL as the admin API takes it and the sender uses it: http or https, a
// host (DNS name or IP literal), an optional port, a path and query. No user:password@
// (a credential in a URL ends up in listings and logs), no fragment, no whitespace or
// control characters. Pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smarthost::events {

struct WebhookUrl {
    bool https = false;
    std::string host;  // lower-cased; an IPv6 literal without its brackets
    std::uint16_t port = 0;
    std::string target;  // path and query, "/" at least
    bool host_is_address = false;
};

inline constexpr std::size_t k_max_url_length = 2048;

// The parsed URL, or nullopt with `why` saying what is wrong ("must start with http:// or
// https://").
std::optional<WebhookUrl> parse_webhook_url(std::string_view url, std::string& why);

}  // namespace smarthost::events
