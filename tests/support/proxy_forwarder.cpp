#include "tests/support/proxy_forwarder.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace smarthost::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto k_no_throw = asio::as_tuple(asio::use_awaitable);

// The 12 octets every v2 header starts with (section 2.2): they cannot begin a v1 header
// or any text protocol, so a receiver tells the forms apart from the first bytes.
constexpr std::array<unsigned char, 12> k_v2_signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

struct ParsedAddress {
    bool v6 = false;
    std::array<unsigned char, 16> octets{};
    std::size_t size() const { return v6 ? 16 : 4; }
};

ParsedAddress parse(const std::string& address) {
    ParsedAddress parsed;
    if (::inet_pton(AF_INET, address.c_str(), parsed.octets.data()) == 1) return parsed;
    parsed.v6 = true;
    if (::inet_pton(AF_INET6, address.c_str(), parsed.octets.data()) == 1) return parsed;
    throw std::invalid_argument("not an IP address: " + address);
}

std::pair<ParsedAddress, ParsedAddress> parse_pair(const ProxyEndpoint& source,
                                                   const ProxyEndpoint& destination) {
    auto from = parse(source.address);
    auto to = parse(destination.address);
    if (from.v6 != to.v6)
        throw std::invalid_argument("PROXY header: source and destination families differ");
    return {from, to};
}

void append_port(std::string& out, std::uint16_t port) {
    out.push_back(static_cast<char>(port >> 8));
    out.push_back(static_cast<char>(port & 0xff));
}

}  // namespace

std::string proxy_header_v1(const ProxyEndpoint& source, const ProxyEndpoint& destination) {
    const auto [from, to] = parse_pair(source, destination);
    return std::string("PROXY ") + (from.v6 ? "TCP6 " : "TCP4 ") + source.address + " " +
           destination.address + " " + std::to_string(source.port) + " " +
           std::to_string(destination.port) + "\r\n";
}

std::string proxy_header_v2(const ProxyEndpoint& source, const ProxyEndpoint& destination) {
    const auto [from, to] = parse_pair(source, destination);
    std::string out(k_v2_signature.begin(), k_v2_signature.end());
    out.push_back(static_cast<char>(0x21));                             // version 2, command PROXY
    out.push_back(static_cast<char>(from.v6 ? 0x21 : 0x11));            // AF_INET(6), SOCK_STREAM
    append_port(out, static_cast<std::uint16_t>(2 * from.size() + 4));  // length, big-endian
    out.append(reinterpret_cast<const char*>(from.octets.data()), from.size());
    out.append(reinterpret_cast<const char*>(to.octets.data()), to.size());
    append_port(out, source.port);
    append_port(out, destination.port);
    return out;
}

struct ProxyForwarder::Impl {
    Options options;
    std::vector<tcp::endpoint> backends;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::thread thread;
    std::optional<asio::ip::address> source_address;  // none: the client's own
    std::uint16_t port = 0;
    std::size_t next_backend = 0;  // I/O thread only

    mutable std::mutex mutex;  // guards what the test thread reads and sets below
    std::vector<bool> down;
    std::vector<std::map<std::string, std::size_t>> forwarded;  // per backend, per client
    std::size_t unserved = 0;

    bool is_down(std::size_t backend) const {
        std::lock_guard lock(mutex);
        return down[backend];
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto client = std::make_shared<tcp::socket>(io);
            auto [ec] = co_await acceptor.async_accept(*client, k_no_throw);
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            if (ec) continue;
            asio::co_spawn(io, serve(client), asio::detached);
        }
    }

    // The first live backend, round-robin, that takes a connection; null if none does.
    asio::awaitable<std::shared_ptr<tcp::socket>> connect_backend(const tcp::endpoint& client) {
        for (std::size_t tried = 0; tried < backends.size(); ++tried) {
            const auto backend = next_backend++ % backends.size();
            if (is_down(backend)) continue;
            auto socket = std::make_shared<tcp::socket>(io, tcp::v4());
            // The port is chosen at connect, per destination: thousands of connections
            // from one source address do not run out of ports held in TIME_WAIT.
            const int one = 1;
            ::setsockopt(socket->native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                         sizeof one);
            const auto source = source_address ? *source_address : client.address();
            boost::system::error_code ec;
            socket->bind({source, 0}, ec);
            if (ec) co_return nullptr;  // counted as unserved: the test set-up is wrong
            auto [connect_error] = co_await socket->async_connect(backends[backend], k_no_throw);
            if (connect_error) continue;  // refused: a dead backend, try the next
            std::lock_guard lock(mutex);
            ++forwarded[backend][client.address().to_string()];
            co_return socket;
        }
        co_return nullptr;
    }

    asio::awaitable<void> serve(std::shared_ptr<tcp::socket> client) {
        boost::system::error_code ec;
        const auto client_endpoint = client->remote_endpoint(ec);
        const auto local_endpoint = client->local_endpoint(ec);
        if (ec) co_return;
        auto backend = co_await connect_backend(client_endpoint);
        if (!backend) {
            std::lock_guard lock(mutex);
            ++unserved;
            co_return;  // the client sees its connection closed
        }
        const ProxyEndpoint source{client_endpoint.address().to_string(), client_endpoint.port()};
        const ProxyEndpoint destination{local_endpoint.address().to_string(),
                                        local_endpoint.port()};
        std::string header;
        if (options.header == Header::v1) header = proxy_header_v1(source, destination);
        if (options.header == Header::v2) header = proxy_header_v2(source, destination);
        if (!header.empty()) {
            auto [write_error, written] =
                co_await asio::async_write(*backend, asio::buffer(header), k_no_throw);
            if (write_error) co_return;
        }
        asio::co_spawn(io, pump(client, backend), asio::detached);
        asio::co_spawn(io, pump(backend, client), asio::detached);
    }

    static asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from,
                                      std::shared_ptr<tcp::socket> to) {
        std::array<char, 16384> buffer;
        for (;;) {
            auto [read_error, n] = co_await from->async_read_some(asio::buffer(buffer), k_no_throw);
            if (read_error) break;
            auto [write_error, written] =
                co_await asio::async_write(*to, asio::buffer(buffer, n), k_no_throw);
            if (write_error) break;
        }
        // Either side gone: the other one sees its connection end too, as through a
        // balancer that tracks both halves of a connection.
        boost::system::error_code ignored;
        from->close(ignored);
        to->close(ignored);
    }
};

ProxyForwarder::ProxyForwarder(std::vector<std::uint16_t> backend_ports, Options options)
    : impl_(std::make_unique<Impl>()) {
    if (backend_ports.empty()) throw std::invalid_argument("ProxyForwarder needs a backend");
    impl_->options = std::move(options);
    if (!impl_->options.source_address.empty())
        impl_->source_address = asio::ip::make_address(impl_->options.source_address);
    for (auto port : backend_ports)
        impl_->backends.emplace_back(asio::ip::address_v4::loopback(), port);
    impl_->down.assign(backend_ports.size(), false);
    impl_->forwarded.resize(backend_ports.size());
    impl_->acceptor.open(tcp::v4());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind({asio::ip::address_v4::loopback(), 0});
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->port = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

ProxyForwarder::~ProxyForwarder() {
    asio::post(impl_->io, [impl = impl_.get()] {
        boost::system::error_code ignored;
        impl->acceptor.close(ignored);
    });
    impl_->io.stop();
    impl_->thread.join();
}

std::uint16_t ProxyForwarder::port() const {
    return impl_->port;
}

void ProxyForwarder::set_down(std::size_t backend, bool down) {
    std::lock_guard lock(impl_->mutex);
    impl_->down.at(backend) = down;
}

std::size_t ProxyForwarder::forwarded(std::size_t backend) const {
    std::lock_guard lock(impl_->mutex);
    std::size_t total = 0;
    for (const auto& [client, count] : impl_->forwarded.at(backend))
        total += count;
    return total;
}

std::size_t ProxyForwarder::forwarded(std::size_t backend,
                                      const std::string& client_address) const {
    std::lock_guard lock(impl_->mutex);
    const auto& per_client = impl_->forwarded.at(backend);
    const auto found = per_client.find(client_address);
    return found == per_client.end() ? 0 : found->second;
}

std::size_t ProxyForwarder::unserved() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->unserved;
}

}  // namespace smarthost::test
