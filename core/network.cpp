#include "core/network.hpp"

#include <arpa/inet.h>

namespace smarthost {

std::optional<Network> Network::parse(std::string_view cidr) {
    const auto slash = cidr.find('/');
    const std::string address(cidr.substr(0, slash));
    Network network;
    network.ipv6_ = address.find(':') != std::string::npos;
    const int family = network.ipv6_ ? AF_INET6 : AF_INET;
    if (inet_pton(family, address.c_str(), network.bytes_.data()) != 1) return std::nullopt;
    const int bits = network.ipv6_ ? 128 : 32;
    network.prefix_ = bits;
    if (slash != std::string_view::npos) {
        const std::string_view digits = cidr.substr(slash + 1);
        if (digits.empty() || digits.size() > 3) return std::nullopt;
        int prefix = 0;
        for (char digit : digits) {
            if (digit < '0' || digit > '9') return std::nullopt;
            prefix = prefix * 10 + (digit - '0');
        }
        if (prefix > bits) return std::nullopt;
        network.prefix_ = prefix;
    }
    return network;
}

bool Network::contains(const Network& address) const {
    if (address.ipv6_ != ipv6_) return false;
    int remaining = prefix_;
    for (std::size_t i = 0; remaining > 0; ++i, remaining -= 8) {
        const int mask = remaining >= 8 ? 0xff : (0xff << (8 - remaining)) & 0xff;
        if ((bytes_[i] & mask) != (address.bytes_[i] & mask)) return false;
    }
    return true;
}

std::string Network::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(ipv6_ ? AF_INET6 : AF_INET, bytes_.data(), text, sizeof text);
    return std::string(text) + "/" + std::to_string(prefix_);
}

}  // namespace smarthost
