#include "relay/ingress/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/metrics/metrics.hpp"
#include "core/spawn.hpp"
#include "relay/ingress/connect_gate.hpp"
#include "relay/ingress/session_class.hpp"
#include "relay/ingress/session_metrics.hpp"
#include "relay/ingress/tls_context.hpp"
#include "relay/policy/rejection_log.hpp"

namespace smarthost::ingress {
namespace detail {
namespace {

std::string peer_address(const tcp::socket& socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) return "0.0.0.0";
    if (remote.address().is_v6() && remote.address().to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, remote.address().to_v6()).to_string();
    return remote.address().to_string();
}

}  // namespace

Session::Session(tcp::socket socket, const ListenerConfig& listener, IngressServices services,
                 std::function<void()> on_end, ClaimClientAddress claim_client)
    : client_ip_(peer_address(socket)),
      channel_(std::move(socket), services.drain),
      listener_(listener),
      services_(services),
      on_end_(std::move(on_end)),
      claim_client_(std::move(claim_client)) {}

Session::~Session() {
    if (drain_token_) services_.drain.unsubscribe(drain_token_);
    if (on_end_) on_end_();
}

void Session::follow_drain() {
    drain_token_ = services_.drain.subscribe([weak = weak_from_this()] {
        if (auto self = weak.lock()) self->channel_.on_drain_notice();
    });
}

asio::awaitable<void> Session::run() {
    try {
        co_await serve();
    } catch (const std::exception& e) {
        // A bug, not a client's doing: log it with context; the connection just closes.
        spdlog::error("session {} {}: internal error: {}", listener_.name, client_ip_, e.what());
        close_reason_ = "internal error";
    }
    channel_.close();
    // The account counts drop as the connection closes, not when the last reference
    // to the session goes (the destructor would release them too, on any path).
    network_slot_ = {};
    auth_slot_ = {};
    spdlog::info(
        "session end listener={} client={} tls={} user={} account={} messages={} "
        "seconds={:.3f} reason={}",
        listener_.name, client_ip_, tls_version_.empty() ? "none" : tls_version_,
        identity_ ? identity_->username : "", identity_ ? identity_->account_name : "",
        messages_accepted_, std::chrono::duration<double>(Clock::now() - started_).count(),
        close_reason_);
}

asio::awaitable<void> Session::serve() {
    auto admission = co_await admit(channel_, listener_, services_, claim_client_, client_ip_);
    client_ip_ = admission.client_ip;
    if (!admission.close_reason.empty()) close_reason_ = admission.close_reason;
    tls_version_ = channel_.stream().tls_version();
    if (admission.outcome == Admission::Outcome::close) {
        if (admission.reply) channel_.send(*admission.reply);
        co_await flush();
        co_return;
    }
    client_network_ = std::move(admission.client_network);
    client_listing_ = std::move(admission.client_listing);
    network_identity_ = std::move(admission.network_identity);
    network_slot_ = std::move(admission.network_slot);
    identity_ = network_identity_;
    if (listener_.limits.max_session.count() > 0)
        session_ends_ = started_ + listener_.limits.max_session;
    machine_.emplace(session_settings());
    channel_.set_transaction_probe([this] { return machine_->in_transaction(); });

    if (admission.outcome == Admission::Outcome::refuse_service) {
        channel_.send(machine_->refuse_service(std::move(*admission.reply),
                                               smtp::reply::no_service(client_ip_)));
    } else if (talks_before_greeting()) {
        co_await refuse_pipelining();
        co_return;
    } else {
        channel_.send(machine_->greeting());
    }
    for (;;) {
        // PIPELINING (RFC 2920): answer every complete command already received, and
        // send the replies together before waiting for more input.
        auto& inbox = channel_.inbox();
        while (auto line = command_reader_.next(inbox)) {
            smtp::Action action;
            switch (line->status) {
                case smtp::CommandLine::Status::complete:
                    if (machine_->pipelining_forbidden(line->text, !inbox.empty())) {
                        co_await refuse_pipelining();
                        co_return;
                    }
                    action = machine_->on_line(line->text);
                    break;
                case smtp::CommandLine::Status::too_long:
                    action = machine_->on_line_too_long();
                    break;
                case smtp::CommandLine::Status::bare_lf:
                    action = machine_->on_bare_lf();
                    break;
            }
            if (!co_await perform(std::move(action))) co_return;
        }
        if (!co_await flush()) co_return;
        // The whole command line must arrive by one deadline, so a client trickling a
        // byte at a time cannot hold the session; no session outlives max_session.
        if (inbox.empty()) line_deadline_ = Clock::now() + listener_.limits.command_timeout;
        const auto end =
            co_await channel_.read_more(std::min(line_deadline_, session_ends_), Waiting::command);
        if (end == ReadEnd::more) continue;
        if (end == ReadEnd::shutdown) {
            close_reason_ = "shutdown";
            co_await close_with(machine_->on_shutdown());
        } else if (end == ReadEnd::timed_out) {
            close_reason_ = "timeout";
            // After a 554 greeting a silent client is just let go.
            if (!machine_->refusing()) co_await close_timed_out_command();
        } else {
            close_reason_ = "client closed";
        }
        co_return;
    }
}

smtp::SessionSettings Session::session_settings() const {
    smtp::SessionSettings settings;
    settings.hostname = services_.config.hostname;
    settings.starttls_available = listener_.tls == TlsMode::starttls && services_.tls;
    settings.tls_active = listener_.tls == TlsMode::implicit;
    settings.auth_allowed_without_tls = services_.config.allow_auth_without_tls;
    settings.client_allowlisted = network_identity_.has_value();
    settings.policy_checks = true;
    settings.max_message_bytes = listener_.limits.max_message_bytes;
    settings.max_recipients = listener_.limits.max_recipients;
    settings.max_errors = listener_.limits.max_errors;
    settings.max_auth_failures = listener_.limits.max_auth_failures;
    settings.max_junk_commands = listener_.limits.max_junk_commands;
    settings.address_limits = {listener_.limits.max_local_part_octets,
                               listener_.limits.max_path_octets};
    return settings;
}

asio::awaitable<bool> Session::flush() {
    const bool sent = co_await channel_.flush();
    if (!sent) close_reason_ = channel_.write_failure();
    co_return sent;
}

asio::awaitable<void> Session::close_with(smtp::Action action) {
    channel_.send(action.reply);
    co_await flush();
}

bool Session::talks_before_greeting() {
    return !channel_.stream().tls_active() && !network_identity_ && channel_.client_spoke();
}

asio::awaitable<void> Session::refuse_pipelining() {
    spdlog::info("session {} {}: commands before the server's reply", listener_.name, client_ip_);
    cut_session("unauth_pipelining", true);
    channel_.send(smtp::reply::unauth_pipelining(services_.config.hostname));
    co_await flush();
}

asio::awaitable<void> Session::close_timed_out_command() {
    if (session_ends_ <= line_deadline_) {
        cut_session("session_lifetime", true);
        channel_.send(smtp::reply::session_too_long(services_.config.hostname));
        co_await flush();
    } else {
        cut_session(channel_.inbox().empty() ? "idle_timeout" : "command_timeout",
                    !channel_.inbox().empty());
        co_await close_with(machine_->on_timeout());
    }
}

void Session::cut_session(std::string_view reason, bool abuse) {
    close_reason_ = std::string(reason);
    metrics::global()
        .smtp_sessions_cut.Add({{"listener", listener_.name}, {"reason", std::string(reason)}})
        .Increment();
    if (!abuse) return;
    if (identity_) {
        services_.rejections.record(identity_->account_id, std::string(reason));
    } else {
        record_refusal_of_client(services_, listener_, client_ip_, std::string(reason));
    }
}

asio::awaitable<bool> Session::perform(smtp::Action action) {
    using Kind = smtp::Action::Kind;
    for (;;) {
        count_rejection(action, identity_);
        switch (action.kind) {
            case Kind::reply:
                channel_.send(action.reply);
                co_return true;
            case Kind::close:
                channel_.send(action.reply);
                if (close_reason_ == "client closed") close_reason_ = "closed by server";
                if (!action.cap_reached.empty()) cut_session(action.cap_reached, true);
                if (action.reply.code == 221) close_reason_ = "quit";
                co_await flush();
                co_return false;
            case Kind::start_tls: {
                channel_.send(action.reply);
                if (!co_await flush()) co_return false;
                // Anything pipelined after STARTTLS was sent in the clear and must not
                // be executed inside TLS (CVE-2011-0411, RFC 3207 section 4.2).
                channel_.inbox().clear();
                auto failure = co_await channel_.start_tls(services_.tls->current());
                if (!failure.empty()) {
                    close_reason_ = std::move(failure);
                    co_return false;
                }
                tls_version_ = channel_.stream().tls_version();
                machine_->on_tls_started();
                identity_ = network_identity_;
                auth_slot_ = {};
                co_return true;
            }
            case Kind::authenticate:
                action = co_await authenticate(std::move(action.auth));
                continue;
            case Kind::check_policy: {
                // A credential disabled, rotated or deleted since this session logged
                // in sends nothing more on it.
                bool valid = true;
                if (action.policy.stage == smtp::PolicyStage::sender)
                    valid = co_await credential_still_valid();
                if (!valid) {
                    channel_.send(smtp::reply::credential_revoked(services_.config.hostname));
                    close_reason_ = "credential no longer valid";
                    services_.rejections.record(identity_->account_id, "credential_revoked");
                    co_await flush();
                    co_return false;
                }
                action = co_await check_policy(std::move(action.policy));
                continue;
            }
            case Kind::receive_data:
                if (!services_.body_budget.has_room()) {
                    // The bodies in memory are at their bound: 452 instead of 354
                    // keeps the message with its client.
                    spdlog::warn(
                        "data refused listener={} client={}: {} bytes of message data "
                        "held, the most is {}",
                        listener_.name, client_ip_, services_.body_budget.held(),
                        services_.body_budget.limit());
                    action = machine_->on_data_end(smtp::DataResult::no_storage);
                    continue;
                }
                channel_.send(action.reply);
                if (!co_await flush()) co_return false;
                {
                    auto next = co_await receive_data();
                    if (!next) co_return false;
                    action = std::move(*next);
                }
                continue;
            case Kind::enqueue:
                action = co_await enqueue();
                continue;
        }
    }
}

}  // namespace detail

void start_session(boost::asio::ip::tcp::socket socket, const ListenerConfig& listener,
                   IngressServices services, std::function<void()> on_end,
                   ClaimClientAddress claim_client) {
    auto executor = socket.get_executor();
    auto session = std::make_shared<detail::Session>(std::move(socket), listener, services,
                                                     std::move(on_end), std::move(claim_client));
    session->follow_drain();
    spawn_logged(executor, "smtp_session", [session] { return session->run(); });
}

}  // namespace smarthost::ingress
