#pragma once
// A load balancer for tests: a TCP forwarder on 127.0.0.1 that spreads client connections
// round-robin over several backends and tells each backend, in a PROXY protocol header
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), who the client really is.
// It connects to the backends from one fixed address of its own, as a real balancer does,
// so a backend that names the client correctly can only have learnt it from the header.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace smarthost::test {

struct ProxyEndpoint {
    std::string address;  // textual IPv4 or IPv6 address
    std::uint16_t port = 0;
};

// The header a proxy sends first on a connection from `source` (the client) to
// `destination` (the address the client connected to). Both of one address family.
// v1: the text form, "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (section 2.1).
std::string proxy_header_v1(const ProxyEndpoint& source, const ProxyEndpoint& destination);
// v2: the binary form, command PROXY over TCP (section 2.2).
std::string proxy_header_v2(const ProxyEndpoint& source, const ProxyEndpoint& destination);

struct ProxyForwarderOptions {
    enum class Header { none, v1, v2 };
    Header header = Header::v2;
    // Where connections to backends come from. Empty: from the client's own address
    // (loopback only), so that without a header backends still see each client apart.
    std::string source_address = "127.0.0.200";
};

class ProxyForwarder {
  public:
    using Options = ProxyForwarderOptions;
    using Header = ProxyForwarderOptions::Header;

    // Listens on 127.0.0.1 at a free port; backends are 127.0.0.1:<port>.
    explicit ProxyForwarder(std::vector<std::uint16_t> backend_ports, Options options = {});
    ~ProxyForwarder();
    ProxyForwarder(const ProxyForwarder&) = delete;
    ProxyForwarder& operator=(const ProxyForwarder&) = delete;

    std::uint16_t port() const;
    // A backend marked down gets no new connections (as after a failed health check);
    // one that refuses a connection is skipped for that client either way.
    void set_down(std::size_t backend, bool down);
    // Clients forwarded to this backend so far, in all or from one client address.
    std::size_t forwarded(std::size_t backend) const;
    std::size_t forwarded(std::size_t backend, const std::string& client_address) const;
    // Clients closed at once because no backend took the connection.
    std::size_t unserved() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace smarthost::test
