// The forwarder that plays the load balancer in the scale-out test: the PROXY header bytes
// (checked against octets written out by hand, not against the encoder), what a plain
// backend socket reads, and how backends are chosen.

#include "tests/support/proxy_forwarder.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace smarthost::test {
namespace {

std::string octets(std::initializer_list<int> values) {
    std::string out;
    for (int v : values)
        out.push_back(static_cast<char>(v));
    return out;
}

const std::string k_signature =
    octets({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});

TEST(ProxyHeader, V2ForIpv4IsSignatureCommandFamilyLengthAddressesPorts) {
    const auto header = proxy_header_v2({"127.0.0.11", 40000}, {"127.0.0.1", 2525});
    const auto expected = k_signature + octets({0x21, 0x11, 0x00, 0x0C,       // PROXY, TCP4, 12
                                                127, 0, 0, 11, 127, 0, 0, 1,  // addresses
                                                0x9C, 0x40, 0x09, 0xDD});     // 40000, 2525
    EXPECT_EQ(header, expected);
}

TEST(ProxyHeader, V2ForIpv6CarriesSixteenOctetAddresses) {
    const auto header = proxy_header_v2({"2001:db8::1", 1}, {"::1", 587});
    std::string expected = k_signature + octets({0x21, 0x21, 0x00, 0x24});  // PROXY, TCP6, 36
    expected += octets({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    expected += octets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    expected += octets({0x00, 0x01, 0x02, 0x4B});
    EXPECT_EQ(header, expected);
}

TEST(ProxyHeader, V1IsOneTextLine) {
    EXPECT_EQ(proxy_header_v1({"127.0.0.11", 40000}, {"127.0.0.1", 2525}),
              "PROXY TCP4 127.0.0.11 127.0.0.1 40000 2525\r\n");
    EXPECT_EQ(proxy_header_v1({"2001:db8::1", 1}, {"::1", 587}),
              "PROXY TCP6 2001:db8::1 ::1 1 587\r\n");
}

TEST(ProxyHeader, MixedFamiliesOrNonAddressesAreRefused) {
    EXPECT_THROW(proxy_header_v2({"127.0.0.1", 1}, {"::1", 2}), std::invalid_argument);
    EXPECT_THROW(proxy_header_v1({"localhost", 1}, {"127.0.0.1", 2}), std::invalid_argument);
}

// A plain listening socket standing in for a backend: it sees the raw bytes.
class PlainBackend {
  public:
    PlainBackend() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        auto address = endpoint("127.0.0.1", 0);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(fd_, 16) != 0)
            throw std::runtime_error("cannot listen");
        socklen_t length = sizeof address;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
    }
    ~PlainBackend() { ::close(fd_); }
    std::uint16_t port() const { return port_; }

    // The next connection (-1 if none within two seconds) and who it came from.
    int accept(std::string* peer = nullptr) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 2000) != 1) return -1;
        sockaddr_in from{};
        socklen_t length = sizeof from;
        const int connection = ::accept(fd_, reinterpret_cast<sockaddr*>(&from), &length);
        char text[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
        if (peer) *peer = text;
        return connection;
    }

    static sockaddr_in endpoint(const std::string& address, std::uint16_t port) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
        return a;
    }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// A client socket bound to `local_address`, connected to 127.0.0.1:port.
int connect_from(const std::string& local_address, std::uint16_t port,
                 std::uint16_t* local_port = nullptr) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    auto local = PlainBackend::endpoint(local_address, 0);
    auto remote = PlainBackend::endpoint("127.0.0.1", port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0)
        throw std::runtime_error("cannot connect");
    socklen_t length = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
    if (local_port) *local_port = ntohs(local.sin_port);
    return fd;
}

// Exactly `size` bytes, or fewer if the peer closes or two seconds pass.
std::string read_bytes(int fd, std::size_t size) {
    std::string out;
    while (out.size() < size) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) != 1) break;
        char chunk[256];
        const auto n = ::recv(fd, chunk, std::min(sizeof chunk, size - out.size()), 0);
        if (n <= 0) break;
        out.append(chunk, static_cast<std::size_t>(n));
    }
    return out;
}

void send_all(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
}

// The backend's kernel accepts before the forwarder's connect completes and is counted.
std::size_t forwarded_soon(const ProxyForwarder& forwarder, std::size_t backend,
                           std::size_t expected) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (forwarder.forwarded(backend) < expected && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return forwarder.forwarded(backend);
}

TEST(ProxyForwarder, BackendReadsTheV2HeaderFromTheForwardersAddressThenTheClientsBytes) {
    PlainBackend backend;
    ProxyForwarder forwarder({backend.port()});
    std::uint16_t client_port = 0;
    const int client = connect_from("127.0.0.11", forwarder.port(), &client_port);
    send_all(client, "EHLO client\r\n");
    std::string peer;
    const int connection = backend.accept(&peer);
    ASSERT_GE(connection, 0);
    EXPECT_EQ(peer, "127.0.0.200");
    const auto header = read_bytes(connection, 28);
    const auto expected =
        k_signature + octets({0x21, 0x11, 0x00, 0x0C, 127, 0, 0, 11, 127, 0, 0, 1, client_port >> 8,
                              client_port & 0xff, forwarder.port() >> 8, forwarder.port() & 0xff});
    EXPECT_EQ(header, expected);
    EXPECT_EQ(read_bytes(connection, 13), "EHLO client\r\n");
    // And back, then the backend's close reaches the client.
    send_all(connection, "250 ok\r\n");
    EXPECT_EQ(read_bytes(client, 8), "250 ok\r\n");
    ::close(connection);
    EXPECT_EQ(read_bytes(client, 1), "");
    ::close(client);
    EXPECT_EQ(forwarder.forwarded(0, "127.0.0.11"), 1u);
}

TEST(ProxyForwarder, V1HeaderIsTheTextLineWithTheClientsAddressAndPort) {
    PlainBackend backend;
    ProxyForwarder forwarder({backend.port()}, {.header = ProxyForwarder::Header::v1});
    std::uint16_t client_port = 0;
    const int client = connect_from("127.0.0.12", forwarder.port(), &client_port);
    const int connection = backend.accept();
    ASSERT_GE(connection, 0);
    const std::string expected = "PROXY TCP4 127.0.0.12 127.0.0.1 " + std::to_string(client_port) +
                                 " " + std::to_string(forwarder.port()) + "\r\n";
    EXPECT_EQ(read_bytes(connection, expected.size()), expected);
    ::close(connection);
    ::close(client);
}

TEST(ProxyForwarder, WithoutHeaderAndSourceTheBackendSeesTheClientItself) {
    PlainBackend backend;
    ProxyForwarder forwarder({backend.port()},
                             {.header = ProxyForwarder::Header::none, .source_address = ""});
    const int client = connect_from("127.0.0.13", forwarder.port());
    send_all(client, "QUIT\r\n");
    std::string peer;
    const int connection = backend.accept(&peer);
    ASSERT_GE(connection, 0);
    EXPECT_EQ(peer, "127.0.0.13");
    EXPECT_EQ(read_bytes(connection, 6), "QUIT\r\n");  // nothing before the client's bytes
    ::close(connection);
    ::close(client);
}

TEST(ProxyForwarder, RoundRobinSkipsRefusingAndDownBackends) {
    PlainBackend first, second;
    std::uint16_t refusing_port = 0;
    {
        PlainBackend closed_again;  // a port nothing listens on any more
        refusing_port = closed_again.port();
    }
    ProxyForwarder forwarder({refusing_port, first.port(), second.port()});
    std::vector<int> clients, connections;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(connect_from("127.0.0.14", forwarder.port()));
        // Accepting in order keeps the round-robin order observable.
        connections.push_back(i % 2 == 0 ? first.accept() : second.accept());
        ASSERT_GE(connections.back(), 0) << i;
    }
    EXPECT_EQ(forwarder.forwarded(0), 0u);
    EXPECT_EQ(forwarded_soon(forwarder, 1, 2), 2u);
    EXPECT_EQ(forwarded_soon(forwarder, 2, 2), 2u);

    forwarder.set_down(1, true);
    for (int i = 0; i < 2; ++i) {
        clients.push_back(connect_from("127.0.0.14", forwarder.port()));
        connections.push_back(second.accept());
        ASSERT_GE(connections.back(), 0) << i;
    }
    EXPECT_EQ(forwarded_soon(forwarder, 2, 4), 4u);
    EXPECT_EQ(forwarder.forwarded(1), 2u);

    // No backend left: the client's connection is closed at once.
    forwarder.set_down(2, true);
    const int unserved = connect_from("127.0.0.14", forwarder.port());
    EXPECT_EQ(read_bytes(unserved, 1), "");
    EXPECT_EQ(forwarder.unserved(), 1u);
    ::close(unserved);
    for (int fd : clients)
        ::close(fd);
    for (int fd : connections)
        ::close(fd);
}

}  // namespace
}  // namespace smarthost::test
