#include "relay/ingress/connect_gate.hpp"

#include <spdlog/spdlog.h>

#include "core/metrics/metrics.hpp"
#include "core/spawn.hpp"
#include "relay/ingress/drain.hpp"
#include "relay/ingress/network_directory.hpp"
#include "relay/ingress/proxy_header.hpp"
#include "relay/ingress/tls_context.hpp"
#include "relay/policy/auth_throttle.hpp"
#include "relay/policy/client_network.hpp"
#include "relay/policy/rejection_log.hpp"
#include "relay/policy/submission_policy.hpp"

namespace smarthost::ingress {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// The whole PROXY header must arrive within this time (Postfix's
// smtpd_upstream_proxy_timeout): a load balancer sends it at once, with the connection.
constexpr std::chrono::seconds k_proxy_header_timeout{5};

void count_proxy_rejection(const ListenerConfig& listener, const char* reason) {
    metrics::global()
        .proxy_protocol_rejected.Add({{"listener", listener.name}, {"reason", reason}})
        .Increment();
}

Admission closing(Admission admission, std::string reason,
                  std::optional<smtp::Reply> reply = std::nullopt) {
    admission.outcome = Admission::Outcome::close;
    admission.close_reason = std::move(reason);
    admission.reply = std::move(reply);
    return admission;
}

// The PROXY header (docs/smtp.md, "PROXY protocol"), read before anything else, even the
// TLS handshake of an implicit-TLS listener. Only the header's own bytes are read: what
// follows stays in the socket for the session (or for TLS). Its client address replaces
// the proxy's; nullopt and the close reason when there is no valid header in time.
asio::awaitable<std::optional<std::string>> read_proxy_header(SessionChannel& channel,
                                                              const ListenerConfig& listener,
                                                              const std::string& proxy_ip,
                                                              std::string& close_reason) {
    std::string received;
    const auto deadline = Clock::now() + k_proxy_header_timeout;  // the whole header's
    for (;;) {
        const auto parse = parse_proxy_header(received);
        if (parse.status == ProxyHeaderParse::Status::complete) {
            const std::string client_ip = parse.client ? parse.client->address : proxy_ip;
            spdlog::debug("proxy header listener={} proxy={} version={} client={} port={}",
                          listener.name, proxy_ip, parse.version, client_ip,
                          parse.client ? parse.client->port : 0);
            co_return client_ip;
        }
        if (parse.status == ProxyHeaderParse::Status::invalid) {
            spdlog::warn("proxy header refused listener={} proxy={}: {}", listener.name, proxy_ip,
                         parse.error);
            count_proxy_rejection(listener, "malformed");
            close_reason = "malformed PROXY header";
            co_return std::nullopt;
        }
        const auto end = co_await channel.read_raw(parse.more_bytes, deadline, received);
        if (end == SessionChannel::ReadEnd::timed_out) {
            spdlog::info("proxy header refused listener={} proxy={}: none within {} s",
                         listener.name, proxy_ip, k_proxy_header_timeout.count());
            count_proxy_rejection(listener, "timeout");
            close_reason = "no PROXY header in time";
            co_return std::nullopt;
        }
        if (end != SessionChannel::ReadEnd::more) {
            close_reason = "client closed before the PROXY header";
            co_return std::nullopt;
        }
    }
}

}  // namespace

asio::awaitable<Admission> admit(SessionChannel& channel, const ListenerConfig& listener,
                                 IngressServices services, const ClaimClientAddress& claim_client,
                                 std::string peer_ip) {
    const std::string& hostname = services.config.hostname;
    Admission admission;
    admission.client_ip = peer_ip;
    if (listener.proxy.enabled) {
        auto client_ip =
            co_await read_proxy_header(channel, listener, peer_ip, admission.close_reason);
        if (!client_ip) co_return admission;
        admission.client_ip = std::move(*client_ip);
        if (claim_client && !claim_client(admission.client_ip)) {
            spdlog::warn("listener {}: connection limit reached, refusing {} (via {})",
                         listener.name, admission.client_ip, peer_ip);
            metrics::global()
                .smtp_connections_refused.Add({{"listener", listener.name}})
                .Increment();
            // As at accept: a plain-text reply would be noise where TLS is expected.
            std::optional<smtp::Reply> reply;
            if (listener.tls != TlsMode::implicit)
                reply = smtp::reply::too_many_connections(hostname);
            co_return closing(std::move(admission), "connection limit reached", std::move(reply));
        }
    }
    const std::string& client_ip = admission.client_ip;
    if (listener.tls == TlsMode::implicit) {
        auto failure = co_await channel.start_tls(services.tls->current());
        if (!failure.empty()) co_return closing(std::move(admission), std::move(failure));
    }
    if (services.drain.stopping()) {
        // A straggler (say, from a load balancer not yet told): a clear temporary answer
        // rather than a reset.
        co_return closing(std::move(admission), "shutdown", smtp::reply::shutting_down(hostname));
    }

    admission.client_network =
        policy::client_network(client_ip, services.config.client_ipv6_prefix_length);
    const bool locked = co_await services.auth_throttle.network_locked(admission.client_network);
    if (locked) {
        record_refusal_of_client(services, listener, client_ip, "auth_lockout");
        auto reply = smtp::reply::client_locked_out(hostname, admission.client_network);
        co_return closing(std::move(admission), "address locked out after failed logins",
                          std::move(reply));
    }
    if (services.blocklists.checks_clients()) {
        admission.client_listing = co_await services.blocklists.check_client(client_ip);
        if (const auto* hit = admission.client_listing.strongest()) {
            spdlog::info("dnsbl listener={} client={} zone={} answer={} action={}", listener.name,
                         client_ip, hit->zone, hit->answer, static_cast<int>(hit->action));
            if (auto refusal = policy::client_refusal_at_connect(*hit, client_ip)) {
                record_refusal_of_client(services, listener, client_ip, "dnsbl");
                admission.outcome = Admission::Outcome::refuse_service;
                admission.close_reason =
                    "refused at connect: " + (refusal->lines.empty() ? "" : refusal->lines[0]);
                admission.reply = std::move(*refusal);
                co_return admission;
            }
        }
    }

    if (listener.allow_networks) {
        auto owner = co_await services.networks.account_for(client_ip);
        if (!owner) {
            // Without the database nothing could be accepted anyway; a 421 makes the client
            // keep its mail and retry (contract 1).
            co_return closing(std::move(admission), "database unavailable",
                              smtp::reply::temporarily_unavailable(hostname));
        }
        admission.network_identity = std::move(owner.value());
    }
    if (admission.network_identity) {
        auto refusal =
            co_await hold_connection(services, *admission.network_identity, admission.network_slot);
        if (refusal)
            co_return closing(std::move(admission), "account connection limit",
                              std::move(*refusal));
    }
    admission.outcome = Admission::Outcome::greet;
    co_return admission;
}

asio::awaitable<std::optional<smtp::Reply>> hold_connection(IngressServices services,
                                                            const Identity& who,
                                                            policy::ConnectionSlot& slot) {
    const std::uint64_t limit = co_await services.policy.connection_limit(who.account_id);
    auto admitted = services.connections.admit(who.account_id, who.account_name, limit);
    if (!admitted) co_return smtp::reply::account_connection_limit(services.config.hostname, limit);
    slot = std::move(*admitted);
    co_return std::nullopt;
}

namespace {

asio::awaitable<void> record_refusal(NetworkDirectory* networks, policy::RejectionLog& log,
                                     std::string client_ip, std::string reason) {
    std::optional<std::int64_t> account_id;
    if (networks) {
        auto owner = co_await networks->account_for(client_ip);
        if (owner && owner->has_value()) account_id = (*owner)->account_id;
    }
    log.record(account_id, std::move(reason));
}

}  // namespace

void record_refusal_of_client(IngressServices services, const ListenerConfig& listener,
                              std::string client_ip, std::string reason) {
    NetworkDirectory* networks = listener.allow_networks ? &services.networks : nullptr;
    spawn_logged(
        services.rejections.executor(), "record_refusal",
        record_refusal(networks, services.rejections, std::move(client_ip), std::move(reason)));
}

}  // namespace smarthost::ingress
