#pragma once
// Which IP addresses a delivery may connect to. A domain's DNS is controlled by whoever
// owns it, so an MX pointing at 127.0.0.1, 10.0.0.5 or fe80::1 would make the relay
// attack its own network (SSRF). Such addresses are refused unless an operator allowed
// their network explicitly (tests allow 127.0.0.0/8). Pure: no I/O.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost::dns {

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

class AddressPolicy {
  public:
    // Throws std::invalid_argument naming the entry when one is not a valid network.
    explicit AddressPolicy(const std::vector<std::string>& allowed_networks = {});

    // Why `address` must not be delivered to ("127.0.0.1 is a loopback address
    // (127.0.0.0/8)"), or nullopt when it may be.
    std::optional<std::string> refusal(std::string_view address) const;
    bool allows(std::string_view address) const { return !refusal(address); }

  private:
    std::vector<Network> allowed_;
};

}  // namespace smarthost::dns
