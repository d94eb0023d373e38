#pragma once
// An IPv4 or IPv6 network, parsed from configuration and compared with client and
// destination addresses. Pure: no I/O.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smarthost {

// An IPv4 or IPv6 network ("192.0.2.0/24", "2001:db8::/32"; a bare address is a /32 or
// /128). IPv4 and IPv6 are distinct: ::ffff:10.0.0.1 is not inside 10.0.0.0/8.
class Network {
  public:
    static std::optional<Network> parse(std::string_view cidr);
    bool contains(const Network& address) const;  // `address` taken as a single host
    bool ipv6() const { return ipv6_; }
    std::string to_string() const;

  private:
    bool ipv6_ = false;
    std::array<std::uint8_t, 16> bytes_{};
    int prefix_ = 0;
};

}  // namespace smarthost
