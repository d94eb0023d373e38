#include "relay/delivery/domain_delivery.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "core/ascii.hpp"
#include "core/config.hpp"
#include "core/metrics/metrics.hpp"
#include "relay/delivery/connection_slots.hpp"
#include "relay/delivery/dane.hpp"
#include "relay/delivery/destination_shaping.hpp"
#include "relay/delivery/smtp_client.hpp"
#include "relay/delivery/transport_security.hpp"
#include "relay/dns/address_policy.hpp"
#include "relay/dns/mx_plan.hpp"
#include "relay/dns/resolver.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;
using asio::ip::tcp;
using queue::AttemptResult;
using queue::ClaimedMessage;
using queue::Verdict;

namespace {

struct Target {
    std::string host;  // logged, sent as SNI, verified under TlsPolicy::verify
    std::vector<tcp::endpoint> endpoints;
    TlsPolicy tls = TlsPolicy::opportunistic;
    const UpstreamConfig* auth = nullptr;  // AUTH with its credentials after opening
    std::vector<dns::TlsaRecord> tlsa;     // under TlsPolicy::dane (relay/delivery/dane.hpp)
    std::string next_hop;                  // the recipient domain, for DANE-TA names
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
    s.tlsa = target.tlsa;
    s.next_hop_domain = target.next_hop;
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

// `result` for one recipient of the claim.
AttemptResult for_recipient(AttemptResult result, const ClaimedMessage& message,
                            const queue::ClaimedRecipient& recipient) {
    result.message = &message;
    result.recipient = &recipient;
    return result;
}

// The same result for every recipient of `messages`, with `verdict`: the caller decides
// what a host's failure means for the mail.
void append_all(std::vector<AttemptResult>& out, const std::vector<const ClaimedMessage*>& messages,
                Verdict verdict, AttemptResult why) {
    why.verdict = verdict;
    for (const auto* message : messages)
        for (const auto& recipient : message->recipients)
            out.push_back(for_recipient(why, *message, recipient));
}

// A local diagnosis: "5.1.10 null MX: ..." (no SMTP code: nothing was said on the wire).
AttemptResult local_failure(Verdict verdict, const std::string& status, const std::string& reason,
                            const std::string& host = {}) {
    AttemptResult result;
    result.verdict = verdict;
    result.reply = smtp::Reply{0, status, {reason}};
    result.peer.host = host;
    return result;
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

void count_dane(const char* result) {
    metrics::global().dane_checks.Add({{"result", result}}).Increment();
}

const char* dane_result(DaneCheck check) {
    switch (check) {
        case DaneCheck::verified:
            return "verified";
        case DaneCheck::unauthenticated:
            return "unauthenticated";
        case DaneCheck::mismatch:
            return "mismatch";
        case DaneCheck::no_tls:
            return "no_tls";
        case DaneCheck::not_checked:
            break;
    }
    return nullptr;
}

// RFC 7672 section 2.2 for one MX host (docs/delivery.md "DANE"): with a secure MX answer
// and secure addresses, its TLSA records decide. Authenticated or unauthenticated DANE
// replaces the domain's TLS policy (DANE over configured policy, DESIGN.md); false, with
// `failure`, when the TLSA lookup failed and the host must not be used now.
asio::awaitable<bool> apply_dane(const DomainRoute& route, bool mx_secure, bool addresses_secure,
                                 Target& target, AttemptResult& failure) {
    if (!route.config.dane_enabled() || !needs_tlsa_lookup(mx_secure, addresses_secure))
        co_return true;
    const std::string name = tlsa_name(target.host, route.config.mx_port);
    auto answer = co_await route.resolver.tlsa(name);
    DaneDecision decision = decide_dane(answer, name);
    switch (decision.kind) {
        case DaneDecision::Kind::ordinary:
            co_return true;
        case DaneDecision::Kind::defer:
            count_dane("lookup_failed");
            failure = local_failure(Verdict::temporary, "4.7.5", decision.reason, target.host);
            co_return false;
        case DaneDecision::Kind::authenticated:
        case DaneDecision::Kind::unauthenticated:
            break;
    }
    target.tls = TlsPolicy::dane;
    target.tlsa = std::move(decision.records);
    co_return true;
}

// Connect, EHLO, STARTTLS by policy, AUTH for an upstream relay. After a failed TLS
// handshake under the opportunistic policy the host is tried once more in clear text
// (RFC 7435 section 3: opportunistic security must not make delivery worse than none).
asio::awaitable<StepResult> open_connection(const DomainRoute& route, const Target& target,
                                            std::unique_ptr<SmtpClientConnection>& connection) {
    connection = std::make_unique<SmtpClientConnection>(route.executor,
                                                        client_settings(route, target, target.tls));
    auto opened = co_await connection->open(target.host, target.endpoints);
    if (!opened && opened.tls_failed && target.tls == TlsPolicy::opportunistic) {
        connection = std::make_unique<SmtpClientConnection>(
            route.executor, client_settings(route, target, TlsPolicy::none));
        opened = co_await connection->open(target.host, target.endpoints);
    }
    if (const char* result = dane_result(opened.dane)) count_dane(result);
    if (opened && target.auth) {
        opened = co_await connection->authenticate(target.auth->username, target.auth->password);
    }
    co_return opened;
}

queue::TimePoint now() {
    return std::chrono::system_clock::now();
}

// The MX hosts skipped for an open circuit (destination_circuits.hpp), and when the first
// of them may be tried again.
struct CircuitSkips {
    std::size_t count = 0;
    queue::TimePoint earliest = queue::TimePoint::max();

    asio::awaitable<bool> skip(const DomainRoute& route, const std::string& host) {
        const HostPass pass = co_await route.shaping->before_host(to_lower(host), now());
        if (!pass.skip) co_return false;
        ++count;
        earliest = std::min(earliest, pass.until);
        co_return true;
    }
    bool all(std::size_t hosts) const { return count > 0 && count == hosts; }
};

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
asio::awaitable<std::optional<std::vector<AttemptResult>>> deliver_via(
    const DomainRoute& route, const Target& target,
    const std::vector<const ClaimedMessage*>& messages, AttemptResult& failure) {
    const std::string host = to_lower(target.host);
    co_await route.slots.acquire_host(host, route.config.host_limit_for(host));
    const HostSlot slot(route.slots, host);
    std::unique_ptr<SmtpClientConnection> connection;
    auto opened = co_await open_connection(route, target, connection);
    if (!opened) {
        failure = std::move(*opened.failure);
        co_return std::nullopt;
    }
    std::vector<AttemptResult> out;
    std::size_t sent_on_connection = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const ClaimedMessage& message = *messages[i];
        if (i > 0) {
            // Connection reuse: RSET, or a new connection when the old one broke or has
            // carried its destination group's messages_per_connection.
            bool reusable = connection->usable();
            if (reusable && connection_spent(route.group, sent_on_connection)) {
                co_await connection->quit();
                reusable = false;
            }
            if (reusable) {
                auto reset = co_await connection->reset();
                reusable = reset.ok();
            }
            if (!reusable) {
                auto reopened = co_await open_connection(route, target, connection);
                if (!reopened) {
                    const std::vector<const ClaimedMessage*> rest(
                        messages.begin() + static_cast<std::ptrdiff_t>(i), messages.end());
                    append_all(out, rest, Verdict::temporary, std::move(*reopened.failure));
                    co_return out;
                }
                sent_on_connection = 0;
            }
        }
        if (!message.body) {
            append_all(out, {&message}, Verdict::temporary,
                       local_failure(Verdict::temporary, "4.3.0", "message body not available"));
            continue;
        }
        const smtp::Envelope envelope = envelope_of(message);
        auto report = co_await connection->send_message(envelope, *message.body);
        ++sent_on_connection;
        std::optional<queue::TimePoint> backoff;
        for (std::size_t r = 0; r < message.recipients.size(); ++r) {
            // The client reports on every recipient, in envelope order.
            AttemptResult result =
                r < report.recipients.size()
                    ? std::move(report.recipients[r])
                    : local_failure(Verdict::temporary, "4.3.0", "no result for this recipient");
            if (!backoff) backoff = co_await route.shaping->react(route.group, result);
            out.push_back(for_recipient(std::move(result), message, message.recipients[r]));
        }
        if (backoff) {
            // The receiver pushed back: the rest waits for the group's backoff, unattempted.
            const std::vector<const ClaimedMessage*> rest(
                messages.begin() + static_cast<std::ptrdiff_t>(i) + 1, messages.end());
            auto held = not_attempted(rest, *backoff);
            DestinationShaping::count_held(*route.group, HoldReason::backoff, rest.size());
            out.insert(out.end(), held.begin(), held.end());
            break;
        }
    }
    if (connection->usable()) co_await connection->quit();
    co_return out;
}

asio::awaitable<std::vector<AttemptResult>> deliver_upstream(
    DomainRoute route, const std::vector<const ClaimedMessage*>& messages) {
    const auto& upstream = route.config.upstream;
    std::vector<AttemptResult> out;
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
        append_all(out, messages, Verdict::temporary,
                   local_failure(Verdict::temporary, "4.4.3",
                                 "upstream relay " + upstream.host + " has no address"));
        co_return out;
    }
    AttemptResult failure;
    auto sent = co_await deliver_via(route, target, messages, failure);
    if (sent) co_return std::move(*sent);
    // Our own relay's refusal is a setup problem, not the recipient's: never bounce.
    append_all(out, messages, Verdict::temporary, std::move(failure));
    co_return out;
}

}  // namespace

asio::awaitable<std::vector<AttemptResult>> deliver_domain(
    DomainRoute route, std::string domain, std::vector<const ClaimedMessage*> messages) {
    const metrics::Stopwatch attempt_time(metrics::global().delivery_duration);
    if (route.config.upstream.applies_to(domain)) {
        auto via_upstream = co_await deliver_upstream(route, messages);
        co_return via_upstream;
    }
    std::vector<AttemptResult> out;
    auto mx_answer = co_await route.resolver.mx(domain);
    const dns::MxPlan plan = dns::plan_mx(domain, mx_answer, route.random);
    if (plan.verdict != dns::Verdict::proceed) {
        const Verdict verdict =
            plan.verdict == dns::Verdict::bounce ? Verdict::permanent : Verdict::temporary;
        append_all(out, messages, verdict,
                   local_failure(verdict, plan.enhanced_status, plan.reason));
        co_return out;
    }
    // RFC 5321 section 5.1: try the hosts in order; the mail bounces only when every host
    // failed permanently, any temporary failure defers it.
    bool any_temporary = false;
    AttemptResult last =
        local_failure(Verdict::temporary, "4.4.4", "no usable mail exchanger for " + domain);
    auto security =
        co_await route.security.for_domain(domain, policy_of(route.config.tls_for(domain)));
    if (!security) {
        append_all(out, messages, Verdict::temporary,
                   local_failure(Verdict::temporary, "4.3.0",
                                 "cannot read the TLS policy of " + domain + ": " +
                                     security.error().message));
        co_return out;
    }
    CircuitSkips skips;
    for (const auto& host : plan.hosts) {
        if (co_await skips.skip(route, host.name)) continue;  // its circuit is open
        const HostSecurity host_tls = host_security(*security, host.name);
        auto addresses = co_await route.resolver.addresses(host.name);
        const dns::HostTargets targets = dns::plan_host(host, addresses, route.address_policy);
        if (targets.verdict != dns::Verdict::proceed) {
            const Verdict verdict =
                targets.verdict == dns::Verdict::bounce ? Verdict::permanent : Verdict::temporary;
            last = local_failure(verdict, targets.enhanced_status, targets.reason, host.name);
            any_temporary |= verdict != Verdict::permanent;
            continue;
        }
        Target target;
        target.host = host.name;
        target.next_hop = domain;
        target.tls = host_tls.tls;
        for (const auto& address : targets.addresses)
            target.endpoints.emplace_back(asio::ip::make_address(address), route.config.mx_port);
        AttemptResult failure;
        const bool mx_secure = mx_answer && mx_answer->secure;
        // The operator's policy for the domain wins over DANE too.
        if (!security->operator_policy &&
            !co_await apply_dane(route, mx_secure, addresses && addresses->secure, target,
                                 failure)) {
            any_temporary = true;
            last = std::move(failure);
            continue;
        }
        // MTA-STS enforce skips a host it does not list, unless DANE secures it (DANE wins).
        if (host_tls.skip && target.tls != TlsPolicy::dane) {
            last = local_failure(Verdict::temporary, "4.7.5", host_tls.reason, host.name);
            any_temporary = true;
            continue;
        }
        auto sent = co_await deliver_via(route, target, messages, failure);
        co_await route.shaping->after_host(to_lower(host.name), sent ? nullptr : &failure, now());
        if (sent) co_return std::move(*sent);
        if (const auto backoff = co_await route.shaping->react(route.group, failure)) {
            DestinationShaping::count_held(*route.group, HoldReason::backoff, messages.size());
            co_return not_attempted(messages, *backoff);  // a 421 greeting: its group backs off
        }
        any_temporary |= failure.verdict != Verdict::permanent;
        last = std::move(failure);
    }
    if (skips.all(plan.hosts.size())) {
        DestinationShaping::count_held(route.group, HoldReason::circuit, messages.size());
        co_return not_attempted(messages, skips.earliest);  // not one host could be tried
    }
    append_all(out, messages, any_temporary ? Verdict::temporary : Verdict::permanent,
               std::move(last));
    co_return out;
}

}  // namespace smarthost::delivery
