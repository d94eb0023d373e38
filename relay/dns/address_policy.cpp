#include "relay/dns/address_policy.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace smarthost::dns {

namespace {

struct SpecialRange {
    const char* cidr;
    const char* description;
};

// IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890 and updates): ranges that
// are not globally reachable unicast. More specific entries come first.
constexpr SpecialRange k_special_ranges[] = {
    {"0.0.0.0/32", "the unspecified address"},
    {"0.0.0.0/8", "a \"this network\" address"},
    {"10.0.0.0/8", "a private address"},
    {"100.64.0.0/10", "a carrier-grade NAT shared address"},
    {"127.0.0.0/8", "a loopback address"},
    {"169.254.0.0/16", "a link-local address"},
    {"172.16.0.0/12", "a private address"},
    {"192.0.0.0/24", "an IETF protocol assignment address"},
    {"192.0.2.0/24", "a documentation address"},
    {"192.88.99.0/24", "a 6to4 relay anycast address"},
    {"192.168.0.0/16", "a private address"},
    {"198.18.0.0/15", "a benchmarking address"},
    {"198.51.100.0/24", "a documentation address"},
    {"203.0.113.0/24", "a documentation address"},
    {"224.0.0.0/4", "a multicast address"},
    {"255.255.255.255/32", "the broadcast address"},
    {"240.0.0.0/4", "a reserved address"},
    {"::/128", "the unspecified address"},
    {"::1/128", "a loopback address"},
    {"::ffff:0:0/96", "an IPv4-mapped address"},
    {"::/96", "an IPv4-compatible address"},
    // NAT64 (RFC 6052, RFC 8215) embeds an IPv4 address that a translator then reaches:
    // 64:ff9b::a00:1 is 10.0.0.1 and would escape the IPv4 checks above, as Teredo does.
    {"64:ff9b::/96", "a NAT64 address"},
    {"64:ff9b:1::/48", "a local-use NAT64 address"},
    {"100::/64", "a discard-only address"},
    {"2001::/32", "a Teredo address"},  // embeds an IPv4 address that escapes these checks
    {"2001:2::/48", "a benchmarking address"},
    {"2001:db8::/32", "a documentation address"},
    {"2001:10::/28", "an ORCHID address"},
    {"2001:20::/28", "an ORCHIDv2 address"},
    {"2002::/16", "a 6to4 address"},  // embeds an IPv4 address, as Teredo
    {"3fff::/20", "a documentation address"},
    {"fc00::/7", "a unique local address"},
    {"fe80::/10", "a link-local address"},
    {"fec0::/10", "a site-local address"},
    {"ff00::/8", "a multicast address"},
};

struct ParsedRange {
    Network network;
    const char* description;
};

const std::vector<ParsedRange>& special_ranges() {
    static const std::vector<ParsedRange> ranges = [] {
        std::vector<ParsedRange> parsed;
        for (const SpecialRange& range : k_special_ranges) {
            parsed.push_back({*Network::parse(range.cidr), range.description});
        }
        return parsed;
    }();
    return ranges;
}

}  // namespace

AddressPolicy::AddressPolicy(const std::vector<std::string>& allowed_networks) {
    for (const std::string& cidr : allowed_networks) {
        auto network = Network::parse(cidr);
        if (!network) throw std::invalid_argument("not an IP network: \"" + cidr + "\"");
        allowed_.push_back(*network);
    }
}

namespace {
// Built by appending: g++ 12 at -O3 warns falsely (-Wrestrict) on "literal" + std::string.
std::string not_an_address(std::string_view address) {
    std::string text = "\"";
    text.append(address);
    text.append("\" is not an IP address");
    return text;
}
}  // namespace

std::optional<std::string> AddressPolicy::refusal(std::string_view address) const {
    // Only a plain address: "10.0.0.1/8" or "fe80::1%eth0" must not slip through.
    if (address.find('/') != std::string_view::npos) return not_an_address(address);
    const auto host = Network::parse(address);
    if (!host) return not_an_address(address);
    for (const Network& allowed : allowed_) {
        if (allowed.contains(*host)) return std::nullopt;
    }
    for (const ParsedRange& range : special_ranges()) {
        if (range.network.contains(*host)) {
            return std::string(address) + " is " + range.description + " (" +
                   range.network.to_string() + ")";
        }
    }
    return std::nullopt;
}

}  // namespace smarthost::dns
