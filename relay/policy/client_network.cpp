#include "relay/policy/client_network.hpp"

#include <boost/asio/ip/address.hpp>

namespace smarthost::policy {

std::string client_network(std::string_view address, unsigned ipv6_prefix_length) {
    namespace ip = boost::asio::ip;
    boost::system::error_code ec;
    const auto parsed = ip::make_address(std::string(address), ec);
    if (ec) return std::string(address);
    if (parsed.is_v4()) return parsed.to_string();
    auto v6 = parsed.to_v6();
    if (v6.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, v6).to_string();
    if (ipv6_prefix_length >= 128) return v6.to_string();
    auto bytes = v6.to_bytes();
    for (std::size_t bit = ipv6_prefix_length; bit < 128; ++bit)
        bytes[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
    return ip::make_address_v6(bytes).to_string() + "/" + std::to_string(ipv6_prefix_length);
}

}  // namespace smarthost::policy
