#pragma once
// Which IP addresses a delivery may connect to. A domain's DNS is controlled by whoever
// owns it, so an MX pointing at 127.0.0.1, 10.0.0.5 or fe80::1 would make the relay
// attack its own network (SSRF). Such addresses are refused unless an operator allowed
// their network explicitly (tests allow 127.0.0.0/8). Pure: no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/network.hpp"

namespace smarthost::dns {

using Network = smarthost::Network;

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
