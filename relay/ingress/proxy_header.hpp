#pragma once
// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a TCP
// load balancer sends before the first SMTP byte to tell who the client really is.
// Pure: it reads bytes handed to it and tells how many more it may safely read, so the
// I/O layer never takes a byte that belongs to the session after the header (an SMTP
// command, or the TLS ClientHello on an implicit-TLS listener). docs/smtp.md, "PROXY
// protocol", lists what is accepted and why.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smarthost::ingress {

// "PROXY TCP6 " + two full IPv6 addresses + two ports + CRLF: the longest v1 line.
constexpr std::size_t k_proxy_v1_max_bytes = 107;
// The v2 address block and TLVs together; a load balancer's TLVs (connection ids, TLS
// details) fit easily, and an oversized length is refused before it is read.
constexpr std::size_t k_proxy_v2_max_payload_bytes = 2048;

// The client side of the proxied connection, as the proxy tells it.
struct ProxiedClient {
    std::string address;  // textual; an IPv4-mapped IPv6 address is given as IPv4
    std::uint16_t port = 0;
};

struct ProxyHeaderParse {
    enum class Status { incomplete, complete, invalid };
    Status status = Status::incomplete;
    // incomplete: how many more bytes certainly belong to the header (at least 1).
    std::size_t more_bytes = 0;
    // complete: the header's length; the input's bytes after it belong to the session.
    std::size_t header_bytes = 0;
    // complete: the client; empty for v1 UNKNOWN, v2 LOCAL and v2 AF_UNSPEC, where the
    // connection's own address stands (a load balancer's health check, typically).
    std::optional<ProxiedClient> client;
    int version = 0;    // 1 or 2 once the signature is recognised
    std::string error;  // invalid: what is wrong, for the log
};

// Parses the header at the start of `input`, everything received so far; call again
// with more bytes appended while it answers incomplete.
ProxyHeaderParse parse_proxy_header(std::string_view input);

}  // namespace smarthost::ingress
