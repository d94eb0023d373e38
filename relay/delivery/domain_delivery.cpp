#include "relay/delivery/domain_delivery.hpp"

#include <boost/asio/ip/address.hpp>
#include <memory>
#include <optional>

#include "core/ascii.hpp"
#include "core/config.hpp"
#include "core/metrics/metrics.hpp"
#include "relay/delivery/connection_slots.hpp"
#include "relay/delivery/dsn.hpp"
#include "relay/delivery/smtp_client.hpp"
#include "relay/dns/address_policy.hpp"
#include "relay/dns/mx_plan.hpp"
#include "relay/dns/resolver.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;
using asio::ip::tcp;
using queue::ClaimedMessage;
using Kind = queue::Outcome::Kind;

namespace {

struct Target {
    std::string host;  // logged, sent as SNI, verified under TlsPolicy::verify
    std::vector<tcp::endpoint> endpoints;
    TlsPolicy tls = TlsPolicy::opportunistic;
    const UpstreamConfig* auth = nullptr;  // AUTH with its credentials after opening
};

// Why a host could not take the mail; the next host is tried.
struct HostFailure {
    bool permanent = false;
    std::string reply;
    std::string status;
    ConnectionInfo connection;
    bool from_remote = false;
};

TlsPolicy policy_of(OutboundTls tls) {
    switch (tls) {
        case OutboundTls::none:
            return TlsPolicy::none;
        case OutboundTls::verify:
            return TlsPolicy::verify;
        case OutboundTls::opportunistic:
            break;
    }
    return TlsPolicy::opportunistic;
}

ClientSettings client_settings(const DomainRoute& route, const Target& target, TlsPolicy tls) {
    const auto& c = route.config;
    ClientSettings s;
    s.helo_name = route.helo_name;
    s.tls = tls;
    s.tls_ca_file = c.tls_ca_file.string();
    if (target.auth)
        s.allow_auth_without_verified_tls = target.auth->allow_auth_without_verified_tls;
    if (!c.source_address.empty()) s.source_address = asio::ip::make_address(c.source_address);
    s.timeouts.connect = c.timeouts.connect;
    s.timeouts.greeting = c.timeouts.greeting;
    s.timeouts.command = c.timeouts.command;
    s.timeouts.tls_handshake = c.timeouts.tls_handshake;
    s.timeouts.mail = c.timeouts.mail;
    s.timeouts.rcpt = c.timeouts.rcpt;
    s.timeouts.data_init = c.timeouts.data_init;
    s.timeouts.data_block = c.timeouts.data_block;
    s.timeouts.data_end = c.timeouts.data_end;
    return s;
}

Kind kind_of(delivery::Outcome outcome) {
    switch (outcome) {
        case delivery::Outcome::delivered:
            return Kind::delivered;
        case delivery::Outcome::permanent:
            return Kind::bounced;
        case delivery::Outcome::temporary:
            break;
    }
    return Kind::deferred;
}

RecipientAttempt attempt(const ClaimedMessage& message, const queue::ClaimedRecipient& recipient,
                         Kind kind, const std::string& reply, const std::string& status,
                         const ConnectionInfo& connection, bool from_remote) {
    RecipientAttempt a;
    a.outcome.recipient_id = recipient.id;
    a.outcome.address = recipient.address;
    a.outcome.kind = kind;
    a.outcome.reply = reply;
    a.outcome.status = status.empty() ? status_of_reply(reply) : status;
    a.outcome.remote_host = connection.remote_host;
    a.outcome.remote_ip = connection.remote_ip;
    a.outcome.tls_version = connection.tls_version;
    a.outcome.attempts = recipient.attempts;
    a.outcome.received_at = message.received_at;
    a.from_remote = from_remote;
    return a;
}

// The same result for every recipient of `messages`.
void append_all(std::vector<RecipientAttempt>& out,
                const std::vector<const ClaimedMessage*>& messages, Kind kind,
                const HostFailure& why) {
    for (const auto* message : messages)
        for (const auto& recipient : message->recipients)
            out.push_back(attempt(*message, recipient, kind, why.reply, why.status, why.connection,
                                  why.from_remote));
}

HostFailure failure_of(const ClientFailure& failure) {
    HostFailure f;
    f.permanent = failure.outcome() == delivery::Outcome::permanent;
    f.reply = describe(failure.reply);
    f.status = status_of_reply(f.reply);
    f.connection = failure.connection;
    f.from_remote = failure.from_remote;
    return f;
}

// A local diagnosis: "5.1.10 null MX: ..." (no SMTP code: nothing was said on the wire).
HostFailure local_failure(bool permanent, const std::string& status, const std::string& reason,
                          const std::string& host = {}) {
    HostFailure f;
    f.permanent = permanent;
    f.status = status;
    f.reply = status + " " + reason;
    f.connection.remote_host = host;
    return f;
}

smtp::Envelope envelope_of(const ClaimedMessage& message) {
    smtp::Envelope envelope;
    envelope.sender = message.sender;
    envelope.body =
        message.body_8bitmime ? smtp::BodyType::eight_bit_mime : smtp::BodyType::seven_bit;
    envelope.smtputf8 = message.smtputf8;
    envelope.ret = message.ret;
    envelope.envid = message.envid;
    for (const auto& r : message.recipients) {
        const auto at = r.address.rfind('@');
        const std::string domain = at == std::string::npos ? "" : r.address.substr(at + 1);
        envelope.recipients.push_back(smtp::Recipient{r.address, domain, r.notify, r.orcpt});
    }
    return envelope;
}

// Connect, EHLO, STARTTLS by policy, AUTH for an upstream relay. After a failed TLS
// handshake under the opportunistic policy the host is tried once more in clear text
// (RFC 7435 section 3: opportunistic security must not make delivery worse than none).
asio::awaitable<StepResult> open_connection(const DomainRoute& route, const Target& target,
                                            std::unique_ptr<SmtpClientConnection>& connection) {
    connection = std::make_unique<SmtpClientConnection>(route.executor,
                                                        client_settings(route, target, target.tls));
    auto opened = co_await connection->open(target.host, target.endpoints);
    if (!opened && opened.failure->tls_failed && target.tls == TlsPolicy::opportunistic) {
        connection = std::make_unique<SmtpClientConnection>(
            route.executor, client_settings(route, target, TlsPolicy::none));
        opened = co_await connection->open(target.host, target.endpoints);
    }
    if (opened && target.auth) {
        opened = co_await connection->authenticate(target.auth->username, target.auth->password);
    }
    co_return opened;
}

// Holds one of a host's connection slots until it goes out of scope.
class HostSlot {
  public:
    HostSlot(ConnectionSlots& slots, std::string host) : slots_(slots), host_(std::move(host)) {}
    ~HostSlot() { slots_.release_host(host_); }
    HostSlot(const HostSlot&) = delete;
    HostSlot& operator=(const HostSlot&) = delete;

  private:
    ConnectionSlots& slots_;
    std::string host_;
};

// Sends every message over connections to one host; nullopt (and `failure`) when no
// connection could be opened, so the caller tries the next host.
asio::awaitable<std::optional<std::vector<RecipientAttempt>>> deliver_via(
    const DomainRoute& route, const Target& target,
    const std::vector<const ClaimedMessage*>& messages, HostFailure& failure) {
    const std::string host = to_lower(target.host);
    co_await route.slots.acquire_host(host, route.config.host_limit_for(host));
    const HostSlot slot(route.slots, host);
    std::unique_ptr<SmtpClientConnection> connection;
    auto opened = co_await open_connection(route, target, connection);
    if (!opened) {
        failure = failure_of(*opened.failure);
        co_return std::nullopt;
    }
    std::vector<RecipientAttempt> out;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const ClaimedMessage& message = *messages[i];
        if (i > 0) {
            // Connection reuse: RSET, or a new connection when the old one broke.
            bool reusable = connection->usable();
            if (reusable) {
                auto reset = co_await connection->reset();
                reusable = reset.ok();
            }
            if (!reusable) {
                auto reopened = co_await open_connection(route, target, connection);
                if (!reopened) {
                    const std::vector<const ClaimedMessage*> rest(
                        messages.begin() + static_cast<std::ptrdiff_t>(i), messages.end());
                    append_all(out, rest, Kind::deferred, failure_of(*reopened.failure));
                    co_return out;
                }
            }
        }
        if (!message.body) {
            append_all(out, {&message}, Kind::deferred,
                       local_failure(false, "4.3.0", "message body not available"));
            continue;
        }
        const smtp::Envelope envelope = envelope_of(message);
        auto report = co_await connection->send_message(envelope, *message.body);
        for (std::size_t r = 0; r < message.recipients.size(); ++r) {
            if (r >= report.recipients.size()) {  // the client reports on every one
                out.push_back(attempt(message, message.recipients[r], Kind::deferred,
                                      "4.3.0 no result for this recipient", "4.3.0",
                                      report.connection, false));
                continue;
            }
            const auto& result = report.recipients[r];
            const std::string reply = describe(result.reply);
            out.push_back(attempt(message, message.recipients[r], kind_of(result.outcome), reply,
                                  status_of_reply(reply), report.connection, result.from_remote));
        }
    }
    if (connection->usable()) co_await connection->quit();
    co_return out;
}

asio::awaitable<std::vector<RecipientAttempt>> deliver_upstream(
    DomainRoute route, const std::vector<const ClaimedMessage*>& messages) {
    const auto& upstream = route.config.upstream;
    std::vector<RecipientAttempt> out;
    Target target;
    target.host = upstream.host;
    target.tls = policy_of(upstream.tls);
    if (!upstream.username.empty()) target.auth = &upstream;
    boost::system::error_code ec;
    const auto literal = asio::ip::make_address(upstream.host, ec);
    if (!ec) {
        target.endpoints.emplace_back(literal, upstream.port);
    } else {
        // The operator chose this host: no address policy, any address it resolves to.
        auto answer = co_await route.resolver.addresses(upstream.host);
        if (answer && answer->status == dns::AnswerStatus::ok) {
            for (const auto& address : answer->records)
                target.endpoints.emplace_back(asio::ip::make_address(address), upstream.port);
        }
    }
    if (target.endpoints.empty()) {
        append_all(
            out, messages, Kind::deferred,
            local_failure(false, "4.4.3", "upstream relay " + upstream.host + " has no address"));
        co_return out;
    }
    HostFailure failure;
    auto sent = co_await deliver_via(route, target, messages, failure);
    if (sent) co_return std::move(*sent);
    // Our own relay's refusal is a setup problem, not the recipient's: never bounce.
    append_all(out, messages, Kind::deferred, failure);
    co_return out;
}

}  // namespace

asio::awaitable<std::vector<RecipientAttempt>> deliver_domain(
    DomainRoute route, std::string domain, std::vector<const ClaimedMessage*> messages) {
    const metrics::Stopwatch attempt_time(metrics::global().delivery_duration);
    if (route.config.upstream.applies_to(domain)) {
        auto via_upstream = co_await deliver_upstream(route, messages);
        co_return via_upstream;
    }
    std::vector<RecipientAttempt> out;
    auto mx_answer = co_await route.resolver.mx(domain);
    const dns::MxPlan plan = dns::plan_mx(domain, mx_answer, route.random);
    if (plan.verdict != dns::Verdict::proceed) {
        const bool bounce = plan.verdict == dns::Verdict::bounce;
        append_all(out, messages, bounce ? Kind::bounced : Kind::deferred,
                   local_failure(bounce, plan.enhanced_status, plan.reason));
        co_return out;
    }
    // RFC 5321 section 5.1: try the hosts in order; the mail bounces only when every host
    // failed permanently, any temporary failure defers it.
    bool any_temporary = false;
    HostFailure last = local_failure(false, "4.4.4", "no usable mail exchanger for " + domain);
    const TlsPolicy tls = policy_of(route.config.tls_for(domain));
    for (const auto& host : plan.hosts) {
        auto addresses = co_await route.resolver.addresses(host.name);
        const dns::HostTargets targets = dns::plan_host(host, addresses, route.address_policy);
        if (targets.verdict != dns::Verdict::proceed) {
            const bool permanent = targets.verdict == dns::Verdict::bounce;
            last = local_failure(permanent, targets.enhanced_status, targets.reason, host.name);
            any_temporary |= !permanent;
            continue;
        }
        Target target;
        target.host = host.name;
        target.tls = tls;
        for (const auto& address : targets.addresses)
            target.endpoints.emplace_back(asio::ip::make_address(address), route.config.mx_port);
        HostFailure failure;
        auto sent = co_await deliver_via(route, target, messages, failure);
        if (sent) co_return std::move(*sent);
        last = failure;
        any_temporary |= !failure.permanent;
    }
    append_all(out, messages, any_temporary ? Kind::deferred : Kind::bounced, last);
    co_return out;
}

}  // namespace smarthost::delivery
