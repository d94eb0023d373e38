#pragma once
// Allow-listed networks as operators type them: "192.0.2.0/24", "2001:db8::/32", or a
// single address ("192.0.2.7" means /32, "2001:db8::1" means /128).

#include <optional>
#include <string>
#include <string_view>

namespace smarthost::admin {

// The canonical CIDR text, or nullopt with `why` set. Host bits right of the prefix are
// refused rather than silently masked: "10.0.0.1/8" is more likely a typo than intent.
std::optional<std::string> canonical_cidr(std::string_view text, std::string& why);

// The broadest networks an operator may allow without saying "force": shorter prefixes
// ("0.0.0.0/0", a typo of "/24" as "/4") would let much of the Internet relay without AUTH.
struct NetworkBreadth {
    unsigned min_prefix_ipv4 = 16;
    unsigned min_prefix_ipv6 = 48;
};

// Why the canonical `cidr` is broader than `limits` allow ("10.0.0.0/8 is broader than
// /16, ..."), or nullopt when it is not.
std::optional<std::string> too_broad(std::string_view cidr, const NetworkBreadth& limits);

}  // namespace smarthost::admin
