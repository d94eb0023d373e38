#include "relay/ingress/listener.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "core/metrics/metrics.hpp"
#include "core/network.hpp"
#include "core/spawn.hpp"
#include "relay/ingress/session.hpp"
#include "relay/policy/client_network.hpp"
#include "relay/smtp/reply.hpp"

namespace smarthost::ingress {
namespace {
namespace asio = boost::asio;
using asio::ip::tcp;
}  // namespace

struct Listener::Impl : std::enable_shared_from_this<Impl> {
    asio::any_io_executor executor;
    ListenerConfig config;  // its limits change on SIGHUP
    IngressServices services;
    tcp::acceptor acceptor;
    std::size_t active = 0;
    std::unordered_map<std::string, std::size_t> per_network;
    std::vector<Network> trusted_proxies;  // checked by the configuration loader

    Impl(asio::any_io_executor ex, const ListenerConfig& c, IngressServices s)
        : executor(ex), config(c), services(s), acceptor(ex) {
        for (const auto& entry : config.proxy.trusted_proxies)
            if (auto network = Network::parse(entry)) trusted_proxies.push_back(*network);
    }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (acceptor.is_open()) {
            auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                // EMFILE and friends: log and go on rather than stop serving.
                spdlog::warn("listener {}: accept failed: {}", config.name, ec.message());
                continue;
            }
            admit(std::move(socket));
        }
    }

    void admit(tcp::socket socket) {
        boost::system::error_code ec;
        const auto remote = socket.remote_endpoint(ec);
        if (ec) return;
        std::string ip = remote.address().to_string();
        metrics::global().smtp_connections.Add({{"listener", config.name}}).Increment();
        if (config.proxy.enabled) {
            admit_proxied(std::move(socket), std::move(ip));
            return;
        }
        // Counted per client network: an IPv6 client holds a whole /64.
        auto network = client_network(ip);
        auto& from_network = per_network[network];
        if (active >= config.limits.max_connections ||
            from_network >= config.limits.max_connections_per_ip) {
            if (from_network == 0) per_network.erase(network);
            refuse(std::move(socket), ip);
            return;
        }
        ++active;
        ++from_network;
        metrics::global().smtp_sessions.Add({{"listener", config.name}}).Increment();
        socket.set_option(tcp::no_delay(true), ec);
        start_session(
            std::move(socket), config, services,
            [self = shared_from_this(), network = std::move(network)] { self->release(network); });
    }

    // Behind a load balancer the peer is the proxy: only a trusted one may speak, and the
    // per-IP limit waits for the client address its PROXY header names (the session
    // claims it); the proxy's own connections count toward max_connections only.
    void admit_proxied(tcp::socket socket, std::string proxy_ip) {
        if (!trusted_proxy(proxy_ip)) {
            spdlog::warn("listener {}: {} is not in trusted_proxies; closed without a greeting",
                         config.name, proxy_ip);
            metrics::global()
                .proxy_protocol_rejected
                .Add({{"listener", config.name}, {"reason", "untrusted_proxy"}})
                .Increment();
            return;  // the socket closes here
        }
        if (active >= config.limits.max_connections) {
            refuse(std::move(socket), proxy_ip);
            return;
        }
        ++active;
        metrics::global().smtp_sessions.Add({{"listener", config.name}}).Increment();
        boost::system::error_code ec;
        socket.set_option(tcp::no_delay(true), ec);
        auto claimed_network = std::make_shared<std::string>();
        start_session(
            std::move(socket), config, services,
            [self = shared_from_this(), claimed_network] { self->release(*claimed_network); },
            [self = shared_from_this(), claimed_network](const std::string& client_ip) {
                auto network = self->client_network(client_ip);
                auto& from_network = self->per_network[network];
                if (from_network >= self->config.limits.max_connections_per_ip) return false;
                ++from_network;
                *claimed_network = std::move(network);
                return true;
            });
    }

    std::string client_network(const std::string& ip) const {
        return policy::client_network(ip, services.config.client_ipv6_prefix_length);
    }

    bool trusted_proxy(const std::string& ip) const {
        const auto address = Network::parse(ip);
        return address && std::any_of(trusted_proxies.begin(), trusted_proxies.end(),
                                      [&](const Network& n) { return n.contains(*address); });
    }

    // `network` is empty for a proxied session that ended before it claimed an address.
    void release(const std::string& network) {
        --active;
        metrics::global().smtp_sessions.Add({{"listener", config.name}}).Decrement();
        auto it = per_network.find(network);
        if (it != per_network.end() && --it->second == 0) per_network.erase(it);
    }

    void refuse(tcp::socket socket, const std::string& ip) {
        spdlog::warn("listener {}: connection limit reached, refusing {}", config.name, ip);
        metrics::global().smtp_connections_refused.Add({{"listener", config.name}}).Increment();
        if (config.tls == TlsMode::implicit) return;  // a plain-text reply would be noise in TLS
        auto owned = std::make_shared<tcp::socket>(std::move(socket));
        auto text = std::make_shared<std::string>(
            smtp::reply::too_many_connections(services.config.hostname).wire());
        asio::async_write(*owned, asio::buffer(*text), [owned, text](auto, auto) {});
    }
};

Listener::Listener(asio::any_io_executor executor, const ListenerConfig& config,
                   IngressServices services)
    : impl_(std::make_shared<Impl>(executor, config, services)) {}

Listener::~Listener() {
    stop();
}

void Listener::start() {
    const auto& c = impl_->config;
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(c.host, ec);
    if (ec)
        throw std::runtime_error(
            fmt::format("listener {}: {} is not an IP address", c.name, c.host));
    const tcp::endpoint endpoint(address, c.port);
    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && address.is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error(
            fmt::format("listener {}: cannot listen on {}: {}", c.name, c.address, ec.message()));
    // Zero-valued series from the start, so rates over them are defined at once.
    metrics::global().smtp_connections.Add({{"listener", c.name}});
    metrics::global().smtp_sessions.Add({{"listener", c.name}});
    spdlog::info("listener {} on {} (tls={}, allow_networks={}, proxy_protocol={})", c.name,
                 c.address,
                 c.tls == TlsMode::none       ? "none"
                 : c.tls == TlsMode::starttls ? "starttls"
                                              : "implicit",
                 c.allow_networks, c.proxy.enabled);
    spawn_supervised(impl_->executor, "smtp_accept",
                     [impl = impl_] { return impl->accept_loop(); });
}

void Listener::stop() {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
}

std::size_t Listener::active_sessions() const {
    return impl_->active;
}

void Listener::set_limits(const SmtpLimits& limits) {
    impl_->config.limits = limits;
}

const ListenerConfig& Listener::config() const {
    return impl_->config;
}

}  // namespace smarthost::ingress
