#pragma once
// The network a client address is counted as by everything that throttles sources: failed
// logins, lockouts and connections per address. An IPv4 address is its own network; an
// IPv6 address counts as its /prefix (default /64: one subscriber or one server usually
// holds a whole /64, and an attacker could otherwise take a fresh address per attempt).

#include <string>
#include <string_view>

namespace smarthost::policy {

inline constexpr unsigned k_default_client_ipv6_prefix = 64;

// "192.0.2.7" → "192.0.2.7"; "2001:db8:1:2:a:b:c:d" with 64 → "2001:db8:1:2::/64";
// "::ffff:192.0.2.7" → "192.0.2.7"; with 128 an IPv6 address is itself. Text that is not
// an address is returned as it is (it cannot collide with a real network's key).
std::string client_network(std::string_view address, unsigned ipv6_prefix_length);

}  // namespace smarthost::policy
