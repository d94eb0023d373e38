#include "admin-api/cidr.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <charconv>

namespace smarthost::admin {

namespace asio = boost::asio;

std::optional<std::string> canonical_cidr(std::string_view text, std::string& why) {
    const auto slash = text.find('/');
    const std::string address_text(text.substr(0, slash));
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(address_text, ec);
    // make_address accepts IPv6 zone ids ("fe80::1%eth0"); a network has none.
    if (ec || address_text.find('%') != std::string::npos) {
        why = "not an IPv4 or IPv6 address";
        return std::nullopt;
    }
    const unsigned max_prefix = address.is_v4() ? 32 : 128;
    unsigned prefix = max_prefix;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        const auto [end, parse_ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || parse_ec != std::errc() || end != digits.data() + digits.size() ||
            prefix > max_prefix) {
            why = "prefix length must be 0 to " + std::to_string(max_prefix);
            return std::nullopt;
        }
    }
    if (address.is_v4()) {
        const asio::ip::network_v4 network(address.to_v4(), static_cast<unsigned short>(prefix));
        if (network.canonical() != network) {
            why = "host bits are set right of the prefix (did you mean " +
                  network.canonical().to_string() + "?)";
            return std::nullopt;
        }
        return network.to_string();
    }
    const asio::ip::network_v6 network(address.to_v6(), static_cast<unsigned short>(prefix));
    if (network.canonical() != network) {
        why = "host bits are set right of the prefix (did you mean " +
              network.canonical().to_string() + "?)";
        return std::nullopt;
    }
    return network.to_string();
}

std::optional<std::string> too_broad(std::string_view cidr, const NetworkBreadth& limits) {
    const auto slash = cidr.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    unsigned prefix = 0;
    const auto digits = cidr.substr(slash + 1);
    std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    const bool ipv6 = cidr.find(':') != std::string_view::npos;
    const unsigned least = ipv6 ? limits.min_prefix_ipv6 : limits.min_prefix_ipv4;
    if (prefix >= least) return std::nullopt;
    return std::string(cidr) + " is broader than /" + std::to_string(least) + " (admin." +
           (ipv6 ? "min_network_prefix_ipv6" : "min_network_prefix_ipv4") +
           "); send \"force\": true to allow it anyway";
}

}  // namespace smarthost::admin
