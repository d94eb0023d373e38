#include "relay/ingress/proxy_header.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace smarthost::ingress {
namespace {

using Status = ProxyHeaderParse::Status;

constexpr std::string_view k_v1_prefix = "PROXY ";
constexpr std::string_view k_v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t k_v2_fixed_bytes = 16;  // signature, version/command, family, length
// The shortest possible headers: "PROXY UNKNOWN\r\n" (15), "PROXY TCP6 :: :: 0 0\r\n"
// (22), "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n" (32); a v2 header has at least 16 bytes.
constexpr std::size_t k_shortest_header = 15;
constexpr std::size_t k_shortest_tcp6_line = 22;
constexpr std::size_t k_shortest_tcp4_line = 32;

ProxyHeaderParse incomplete(int version, std::size_t more_bytes) {
    ProxyHeaderParse parse;
    parse.version = version;
    parse.more_bytes = std::max<std::size_t>(more_bytes, 1);
    return parse;
}

ProxyHeaderParse invalid(int version, std::string error) {
    ProxyHeaderParse parse;
    parse.status = Status::invalid;
    parse.version = version;
    parse.error = std::move(error);
    return parse;
}

ProxyHeaderParse complete(int version, std::size_t header_bytes,
                          std::optional<ProxiedClient> client) {
    ProxyHeaderParse parse;
    parse.status = Status::complete;
    parse.version = version;
    parse.header_bytes = header_bytes;
    parse.client = std::move(client);
    return parse;
}

// The session compares addresses as text: an IPv4 client behind an IPv6 hop must look
// the same as one connecting directly, so ::ffff:a.b.c.d becomes a.b.c.d.
std::string address_text(int family, const void* bytes) {
    const auto* octets = static_cast<const unsigned char*>(bytes);
    constexpr unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && std::memcmp(octets, v4_mapped_prefix, 12) == 0) {
        family = AF_INET;
        octets += 12;
    }
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, octets, text, sizeof text);
    return text;
}

// A v1 address: exactly what inet_pton takes for the family (glibc refuses leading zeros
// in IPv4 octets, IPv6 zone ids and IPv4 in TCP6 lines other than as ::ffff:a.b.c.d).
std::optional<std::string> v1_address(std::string_view token, int family) {
    if (token.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    const std::string text(token);
    std::array<unsigned char, 16> bytes{};
    if (inet_pton(family, text.c_str(), bytes.data()) != 1) return std::nullopt;
    return address_text(family, bytes.data());
}

// A v1 port: decimal 0-65535, no sign, no leading zero (one spelling per port).
std::optional<std::uint16_t> v1_port(std::string_view token) {
    if (token.empty() || token.size() > 5) return std::nullopt;
    if (token.size() > 1 && token[0] == '0') return std::nullopt;
    std::uint32_t value = 0;
    for (char c : token) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

std::string quoted(std::string_view token) {
    std::string text = "\"";
    for (unsigned char c : token) {
        if (c >= 0x20 && c < 0x7f) {
            text.push_back(static_cast<char>(c));
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            text += "\\x";
            text.push_back(hex[c >> 4]);
            text.push_back(hex[c & 15]);
        }
    }
    return text + "\"";
}

// "PROXY TCP4 192.0.2.1 198.51.100.2 51234 587" (without its CRLF).
ProxyHeaderParse parse_v1_line(std::string_view line, std::size_t header_bytes) {
    std::vector<std::string_view> tokens;
    for (std::size_t start = 0;;) {
        const auto space = line.find(' ', start);
        tokens.push_back(line.substr(start, space - start));
        if (space == std::string_view::npos) break;
        start = space + 1;
    }
    const std::string_view protocol = tokens.size() > 1 ? tokens[1] : std::string_view();
    // The spec lets a sender put anything after UNKNOWN; the receiver ignores it.
    if (protocol == "UNKNOWN") return complete(1, header_bytes, std::nullopt);
    int family = 0;
    if (protocol == "TCP4") {
        family = AF_INET;
    } else if (protocol == "TCP6") {
        family = AF_INET6;
    } else {
        return invalid(1, "protocol " + quoted(protocol) + " is not TCP4, TCP6 or UNKNOWN");
    }
    if (tokens.size() != 6)
        return invalid(1, "expected \"PROXY " + std::string(protocol) +
                              " <source> <destination> <source port> <destination port>\" "
                              "separated by single spaces, got " +
                              quoted(line));
    const char* family_name = family == AF_INET ? "IPv4" : "IPv6";
    auto source = v1_address(tokens[2], family);
    if (!source)
        return invalid(
            1, "source address " + quoted(tokens[2]) + " is not an " + family_name + " address");
    if (!v1_address(tokens[3], family))
        return invalid(1, "destination address " + quoted(tokens[3]) + " is not an " + family_name +
                              " address");
    const auto source_port = v1_port(tokens[4]);
    if (!source_port)
        return invalid(1, "source port " + quoted(tokens[4]) +
                              " is not a number from 0 to 65535 without leading zeros");
    if (!v1_port(tokens[5]))
        return invalid(1, "destination port " + quoted(tokens[5]) +
                              " is not a number from 0 to 65535 without leading zeros");
    return complete(1, header_bytes, ProxiedClient{std::move(*source), *source_port});
}

ProxyHeaderParse parse_v1(std::string_view input) {
    const auto scanned = input.substr(0, k_proxy_v1_max_bytes);
    const auto cr = scanned.find('\r');
    const auto lf = scanned.find('\n');
    if (cr != std::string_view::npos && cr + 1 < scanned.size() && scanned[cr + 1] != '\n')
        return invalid(1, "a CR inside the line");
    if (lf != std::string_view::npos && (cr == std::string_view::npos || cr + 1 != lf))
        return invalid(1, "the line ends with a bare LF, not CRLF");
    if (lf != std::string_view::npos) return parse_v1_line(input.substr(0, cr), lf + 1);
    if (input.size() >= k_proxy_v1_max_bytes)
        return invalid(1, "no CRLF within " + std::to_string(k_proxy_v1_max_bytes) + " bytes");

    std::size_t shortest = k_shortest_header;
    if (input.starts_with("PROXY TCP4 ")) shortest = k_shortest_tcp4_line;
    if (input.starts_with("PROXY TCP6 ")) shortest = k_shortest_tcp6_line;
    // At least the CRLF is still to come (only its LF when the CR is here).
    const std::size_t line_end = input.ends_with('\r') ? 1 : 2;
    const std::size_t until_shortest = shortest > input.size() ? shortest - input.size() : 0;
    return incomplete(1, std::max(until_shortest, line_end));
}

std::uint16_t big_endian16(std::string_view bytes, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(bytes[at]) << 8) |
                                      static_cast<unsigned char>(bytes[at + 1]));
}

ProxyHeaderParse parse_v2(std::string_view input) {
    if (input.size() < k_v2_fixed_bytes) return incomplete(2, k_v2_fixed_bytes - input.size());
    const auto version_command = static_cast<unsigned char>(input[12]);
    const auto family_transport = static_cast<unsigned char>(input[13]);
    const std::size_t payload = big_endian16(input, 14);
    if ((version_command >> 4) != 2)
        return invalid(2, "version " + std::to_string(version_command >> 4) + " is not 2");
    const int command = version_command & 0x0f;
    if (command > 1)
        return invalid(2, "command " + std::to_string(command) + " is neither LOCAL nor PROXY");
    if (payload > k_proxy_v2_max_payload_bytes)
        return invalid(2, "an address block of " + std::to_string(payload) + " bytes (at most " +
                              std::to_string(k_proxy_v2_max_payload_bytes) + " accepted)");
    const std::size_t header_bytes = k_v2_fixed_bytes + payload;
    const int family = family_transport >> 4;
    const int transport = family_transport & 0x0f;

    // Checked before the address block arrives, so a bad header is refused at once.
    std::size_t address_bytes = 0;
    int address_family = 0;
    // PROXY; for LOCAL the proxy speaks for itself and the rest of the header is ignored.
    if (command == 1) {
        if (family == 1) {
            address_family = AF_INET;
            address_bytes = 12;  // source, destination, source port, destination port
        } else if (family == 2) {
            address_family = AF_INET6;
            address_bytes = 36;
        } else if (family == 3) {
            return invalid(2, "family AF_UNIX: a Unix socket client has no address to use");
        } else if (family != 0) {
            return invalid(2, "address family " + std::to_string(family) + " is unknown");
        }
        if (address_family != 0 && transport != 1)
            return invalid(2, std::string("transport ") +
                                  (transport == 0   ? "UNSPEC"
                                   : transport == 2 ? "DGRAM"
                                                    : std::to_string(transport)) +
                                  " is not STREAM");
        if (payload < address_bytes)
            return invalid(2, "an address block of " + std::to_string(payload) + " bytes, " +
                                  std::to_string(address_bytes) + " needed for " +
                                  (address_family == AF_INET ? "AF_INET" : "AF_INET6"));
    }
    if (input.size() < header_bytes) return incomplete(2, header_bytes - input.size());
    if (address_family == 0) return complete(2, header_bytes, std::nullopt);  // LOCAL, UNSPEC

    const std::size_t address_size = address_family == AF_INET ? 4 : 16;
    const char* addresses = input.data() + k_v2_fixed_bytes;
    ProxiedClient client;
    client.address = address_text(address_family, addresses);
    client.port = big_endian16(input, k_v2_fixed_bytes + 2 * address_size);
    return complete(2, header_bytes, std::move(client));  // TLVs after the ports: unused
}

}  // namespace

ProxyHeaderParse parse_proxy_header(std::string_view input) {
    if (input.empty()) return incomplete(0, k_shortest_header);
    // The first byte tells the versions apart: 'P' or CR.
    const bool v1 = input[0] == 'P';
    const auto signature = v1 ? k_v1_prefix : k_v2_signature;
    const auto compared = std::min(input.size(), signature.size());
    if (input.substr(0, compared) != signature.substr(0, compared))
        return invalid(0, "not a PROXY protocol header: starts with " +
                              quoted(input.substr(0, std::min<std::size_t>(input.size(), 16))));
    if (input.size() < signature.size())
        return incomplete(v1 ? 1 : 2, (v1 ? k_shortest_header : k_v2_fixed_bytes) - input.size());
    return v1 ? parse_v1(input) : parse_v2(input);
}

}  // namespace smarthost::ingress
