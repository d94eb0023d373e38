#include "relay/ingress/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <chrono>
#include <optional>

#include "core/config.hpp"
#include "core/metrics/metrics.hpp"
#include "relay/ingress/authenticator.hpp"
#include "relay/ingress/body_budget.hpp"
#include "relay/ingress/bounce_report.hpp"
#include "relay/ingress/drain.hpp"
#include "relay/ingress/network_directory.hpp"
#include "relay/ingress/proxy_header.hpp"
#include "relay/ingress/session_metrics.hpp"
#include "relay/ingress/tls_context.hpp"
#include "relay/policy/auth_throttle.hpp"
#include "relay/policy/client_network.hpp"
#include "relay/policy/connection_limiter.hpp"
#include "relay/policy/dnsbl.hpp"
#include "relay/policy/rejection_log.hpp"
#include "relay/policy/submission_policy.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/smtp/command_reader.hpp"
#include "relay/smtp/data_reader.hpp"
#include "relay/smtp/message_headers.hpp"
#include "relay/smtp/received_header.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::ingress {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Enough for a full pipelined command group or a good slice of DATA per read.
constexpr std::size_t k_read_chunk = 64 * 1024;
// A reply must leave within this time, or the client is not reading.
constexpr std::chrono::seconds k_write_timeout{60};
constexpr std::chrono::seconds k_tls_handshake_timeout{30};
// The whole PROXY header must arrive within this time (Postfix's
// smtpd_upstream_proxy_timeout): a load balancer sends it at once, with the connection.
constexpr std::chrono::seconds k_proxy_header_timeout{5};

// Records a refusal at connect in `rejections`, for the account owning the client's
// allow-listed network when `networks` is given and knows one. Runs detached, after the
// refusal went out: the refused client never waits for it.
asio::awaitable<void> record_connect_refusal(NetworkDirectory* networks, policy::RejectionLog& log,
                                             std::string client_ip, std::string reason) {
    std::optional<std::int64_t> account_id;
    if (networks) {
        auto owner = co_await networks->account_for(client_ip);
        if (owner && owner->has_value()) account_id = (*owner)->account_id;
    }
    log.record(account_id, std::move(reason));
}

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, const ListenerConfig& listener, IngressServices services,
            std::function<void()> on_end, ClaimClientAddress claim_client)
        : executor_(socket.get_executor()),
          socket_(std::move(socket)),
          listener_(listener),
          services_(services),
          on_end_(std::move(on_end)),
          claim_client_(std::move(claim_client)),
          watchdog_(executor_),
          command_reader_(512),
          started_(Clock::now()) {
        boost::system::error_code ec;
        const auto remote = socket_.remote_endpoint(ec);
        client_ip_ = ec ? "0.0.0.0" : remote.address().to_string();
        if (remote.address().is_v6() && remote.address().to_v6().is_v4_mapped())
            client_ip_ = asio::ip::make_address_v4(asio::ip::v4_mapped, remote.address().to_v6())
                             .to_string();
    }

    ~Session() {
        if (drain_token_) services_.drain->unsubscribe(drain_token_);
        if (on_end_) on_end_();
    }

    asio::awaitable<void> run() {
        try {
            co_await serve();
        } catch (const std::exception& e) {
            // A bug, not a client's doing: log it with context; the connection just closes.
            spdlog::error("session {} {}: internal error: {}", listener_.name, client_ip_,
                          e.what());
            close_reason_ = "internal error";
        }
        open_ = false;
        watchdog_.cancel();
        boost::system::error_code ignored;
        lowest_layer().close(ignored);
        // The account counts drop as the connection closes, not when the last reference
        // to the session goes (the destructor would release them too, on any path).
        network_slot_ = {};
        auth_slot_ = {};
        spdlog::info(
            "session end listener={} client={} tls={} user={} account={} messages={} "
            "seconds={:.3f} "
            "reason={}",
            listener_.name, client_ip_, tls_version().empty() ? "none" : tls_version(),
            identity_ ? identity_->username : "", identity_ ? identity_->account_name : "",
            messages_accepted_, std::chrono::duration<double>(Clock::now() - started_).count(),
            close_reason_);
    }

    void start_watchdog() {
        asio::co_spawn(
            executor_, [self = shared_from_this()] { return self->watch(); }, asio::detached);
    }

    void follow_drain() {
        if (!services_.drain) return;
        drain_token_ = services_.drain->subscribe([weak = weak_from_this()] {
            if (auto self = weak.lock()) self->on_drain_notice();
        });
    }

  private:
    asio::any_io_executor executor_;  // socket_ is moved into tls_ by STARTTLS
    tcp::socket socket_;
    std::unique_ptr<ssl::stream<tcp::socket>> tls_;
    std::shared_ptr<ssl::context> tls_context_;  // kept alive for the stream's lifetime
    // A copy: SIGHUP may change the listener's limits; this session keeps those it began with.
    const ListenerConfig listener_;
    IngressServices services_;
    std::function<void()> on_end_;
    ClaimClientAddress claim_client_;

    asio::steady_timer watchdog_;
    Clock::time_point deadline_ = Clock::time_point::max();
    bool timed_out_ = false;
    bool open_ = true;

    // What the session waits for from its client, for the shutdown notices.
    enum class Waiting { nothing, command, data };
    Waiting waiting_ = Waiting::nothing;
    bool shutdown_told_ = false;  // a read was stopped (or not begun) for the shutdown
    Drain::Token drain_token_ = 0;

    std::optional<smtp::SessionMachine> machine_;
    smtp::CommandReader command_reader_;
    std::string inbox_;
    std::string outbox_;
    std::array<char, k_read_chunk> read_buffer_{};

    std::string client_ip_;
    std::string client_network_;              // what throttles count client_ip_ as (IPv6: its /64)
    policy::BlocklistResult client_listing_;  // DNSBL zones that list client_ip_
    std::string sender_domain_tags_;          // tag-action domain blocklist hits, this MAIL
    std::optional<Identity> network_identity_;  // from an allow-listed network
    std::optional<Identity> identity_;          // who the mail is sent as
    // This session counted towards its accounts' connection limits: the network's from
    // connect, the authenticated account's (when another) from AUTH.
    policy::ConnectionSlot network_slot_;
    policy::ConnectionSlot auth_slot_;
    std::size_t messages_accepted_ = 0;
    Clock::time_point started_;
    Clock::time_point session_ends_ = Clock::time_point::max();   // [smtp] max_session_seconds
    Clock::time_point line_deadline_ = Clock::time_point::max();  // the command line read now
    std::string close_reason_ = "client closed";

    tcp::socket& lowest_layer() { return tls_ ? tls_->next_layer() : socket_; }

    std::string tls_version() {
        return tls_ ? SSL_get_version(tls_->native_handle()) : std::string();
    }
    std::string tls_cipher() {
        return tls_ ? SSL_get_cipher_name(tls_->native_handle()) : std::string();
    }

    // Beast's approach to timeouts: one timer per session; when the deadline passes the
    // socket's pending operation is cancelled and the session sees timed_out_.
    asio::awaitable<void> watch() {
        auto self = shared_from_this();
        while (open_) {
            watchdog_.expires_at(deadline_);
            co_await watchdog_.async_wait(use_tuple);
            if (!open_) co_return;
            if (Clock::now() >= deadline_) {
                timed_out_ = true;
                deadline_ = Clock::time_point::max();
                boost::system::error_code ignored;
                lowest_layer().cancel(ignored);
            }
        }
    }

    void arm(std::chrono::seconds timeout) { arm_at(Clock::now() + timeout); }

    void arm_at(Clock::time_point deadline) {
        const bool sooner = deadline < deadline_;
        deadline_ = deadline;
        if (sooner) watchdog_.cancel();  // the watchdog re-arms with the nearer deadline
    }

    // Whether the shutdown ends this session now that it waits for `what`: between
    // transactions from the start of the drain, in the middle of one once the grace is over.
    bool shutdown_due(Waiting what) const {
        if (!services_.drain || what == Waiting::nothing) return false;
        switch (services_.drain->phase()) {
            case Drain::Phase::serving:
                return false;
            case Drain::Phase::draining:
                return what == Waiting::command && !(machine_ && machine_->in_transaction());
            case Drain::Phase::closing:
                return true;
        }
        return false;
    }

    void on_drain_notice() {
        if (!shutdown_due(waiting_)) return;
        shutdown_told_ = true;
        boost::system::error_code ignored;
        lowest_layer().cancel(ignored);
    }

    // Reads more bytes into inbox_. False when the peer went away, timed out, or the
    // shutdown ends the session (shutdown_told_).
    asio::awaitable<bool> read_more(Clock::time_point deadline, Waiting what) {
        if (shutdown_told_ || shutdown_due(what)) {
            shutdown_told_ = true;
            close_reason_ = "shutdown";
            co_return false;
        }
        if (Clock::now() >= deadline) {
            timed_out_ = true;
            close_reason_ = "timeout";
            co_return false;
        }
        waiting_ = what;
        arm_at(deadline);
        auto buffer = asio::buffer(read_buffer_);
        // Plain statements around co_await: g++ 12 miscompiles co_await inside ?:.
        std::tuple<boost::system::error_code, std::size_t> outcome;
        if (tls_) {
            outcome = co_await tls_->async_read_some(buffer, use_tuple);
        } else {
            outcome = co_await socket_.async_read_some(buffer, use_tuple);
        }
        waiting_ = Waiting::nothing;
        const auto [ec, n] = outcome;
        if (ec) {
            close_reason_ = shutdown_told_ ? "shutdown" : timed_out_ ? "timeout" : "client closed";
            co_return false;
        }
        inbox_.append(read_buffer_.data(), n);
        co_return true;
    }

    asio::awaitable<bool> flush() {
        if (outbox_.empty()) co_return true;
        arm(k_write_timeout);
        auto buffer = asio::buffer(outbox_);
        std::tuple<boost::system::error_code, std::size_t> outcome;
        if (tls_) {
            outcome = co_await asio::async_write(*tls_, buffer, use_tuple);
        } else {
            outcome = co_await asio::async_write(socket_, buffer, use_tuple);
        }
        const auto ec = std::get<0>(outcome);
        outbox_.clear();
        if (ec) close_reason_ = timed_out_ ? "write timeout" : "write failed";
        co_return !ec;
    }

    asio::awaitable<bool> tls_handshake() {
        tls_context_ = services_.tls->current();
        tls_ = std::make_unique<ssl::stream<tcp::socket>>(std::move(socket_), *tls_context_);
        arm(k_tls_handshake_timeout);
        auto [ec] = co_await tls_->async_handshake(ssl::stream_base::server, use_tuple);
        if (ec) close_reason_ = "TLS handshake failed: " + ec.message();
        co_return !ec;
    }

    // The PROXY header (docs/smtp.md, "PROXY protocol"), read before anything else, even
    // the TLS handshake of an implicit-TLS listener. Only the header's own bytes are read:
    // what follows stays in the socket for the session (or for TLS). On success the
    // client address it carries replaces the proxy's for everything the session does.
    asio::awaitable<bool> accept_proxy_header() {
        const std::string proxy_ip = client_ip_;
        std::string received;
        arm(k_proxy_header_timeout);  // for the whole header, not per read
        for (;;) {
            const auto parse = parse_proxy_header(received);
            if (parse.status == ProxyHeaderParse::Status::complete) {
                if (parse.client) client_ip_ = parse.client->address;
                spdlog::debug("proxy header listener={} proxy={} version={} client={} port={}",
                              listener_.name, proxy_ip, parse.version, client_ip_,
                              parse.client ? parse.client->port : 0);
                // The header's deadline must not cut the DNS and database look-ups short.
                deadline_ = Clock::time_point::max();
                break;
            }
            if (parse.status == ProxyHeaderParse::Status::invalid) {
                spdlog::warn("proxy header refused listener={} proxy={}: {}", listener_.name,
                             proxy_ip, parse.error);
                count_proxy_rejection("malformed");
                close_reason_ = "malformed PROXY header";
                co_return false;
            }
            const auto wanted = std::min(parse.more_bytes, read_buffer_.size());
            auto [ec, n] = co_await socket_.async_read_some(
                asio::buffer(read_buffer_.data(), wanted), use_tuple);
            if (ec) {
                if (timed_out_) {
                    spdlog::info("proxy header refused listener={} proxy={}: none within {} s",
                                 listener_.name, proxy_ip, k_proxy_header_timeout.count());
                    count_proxy_rejection("timeout");
                    close_reason_ = "no PROXY header in time";
                } else {
                    close_reason_ = "client closed before the PROXY header";
                }
                co_return false;
            }
            received.append(read_buffer_.data(), n);
        }
        if (claim_client_ && !claim_client_(client_ip_)) {
            spdlog::warn("listener {}: connection limit reached, refusing {} (via {})",
                         listener_.name, client_ip_, proxy_ip);
            metrics::global()
                .smtp_connections_refused.Add({{"listener", listener_.name}})
                .Increment();
            close_reason_ = "connection limit reached";
            // As at accept: a plain-text reply would be noise where TLS is expected.
            if (listener_.tls != TlsMode::implicit) {
                outbox_ = smtp::reply::too_many_connections(services_.config.hostname).wire();
                co_await flush();
            }
            co_return false;
        }
        co_return true;
    }

    void count_proxy_rejection(const char* reason) {
        metrics::global()
            .proxy_protocol_rejected.Add({{"listener", listener_.name}, {"reason", reason}})
            .Increment();
    }

    asio::awaitable<void> serve() {
        if (listener_.proxy.enabled) {
            const bool accepted = co_await accept_proxy_header();
            if (!accepted) co_return;
        }
        if (listener_.tls == TlsMode::implicit && !co_await tls_handshake()) co_return;
        if (services_.drain && services_.drain->stopping()) {
            // A straggler (say, from a load balancer not yet told): a clear temporary
            // answer rather than a reset.
            outbox_ = smtp::reply::shutting_down(services_.config.hostname).wire();
            close_reason_ = "shutdown";
            co_await flush();
            co_return;
        }

        client_network_ =
            policy::client_network(client_ip_, services_.config.client_ipv6_prefix_length);
        if (listener_.limits.max_session.count() > 0)
            session_ends_ = started_ + listener_.limits.max_session;
        if (services_.auth_throttle) {
            const bool locked = co_await services_.auth_throttle->network_locked(client_network_);
            if (locked) {
                outbox_ = smtp::reply::client_locked_out(services_.config.hostname, client_network_)
                              .wire();
                close_reason_ = "address locked out after failed logins";
                co_await flush();
                record_refusal("auth_lockout");
                co_return;
            }
        }
        if (services_.blocklists && services_.blocklists->checks_clients()) {
            client_listing_ = co_await services_.blocklists->check_client(client_ip_);
            const auto* hit = client_listing_.strongest();
            if (hit) {
                spdlog::info("dnsbl listener={} client={} zone={} answer={} action={}",
                             listener_.name, client_ip_, hit->zone, hit->answer,
                             static_cast<int>(hit->action));
                if (auto refusal = policy::client_refusal_at_connect(*hit, client_ip_)) {
                    record_refusal("dnsbl");
                    co_await refuse_service(std::move(*refusal));
                    co_return;
                }
            }
        }

        if (listener_.allow_networks) {
            auto owner = co_await services_.networks.account_for(client_ip_);
            if (!owner) {
                // Without the database nothing could be accepted anyway; a 421 makes the
                // client keep its mail and retry (contract 1).
                outbox_ = smtp::reply::temporarily_unavailable(services_.config.hostname).wire();
                close_reason_ = "database unavailable";
                co_await flush();
                co_return;
            }
            network_identity_ = std::move(owner.value());
        }
        if (network_identity_) {
            auto refusal = co_await hold_connection(*network_identity_, network_slot_);
            if (refusal) {
                outbox_ = refusal->wire();
                close_reason_ = "account connection limit";
                co_await flush();
                co_return;
            }
        }

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
        machine_.emplace(settings);
        identity_ = network_identity_;

        if (talks_before_greeting()) {
            co_await refuse_pipelining();
            co_return;
        }
        outbox_ = machine_->greeting().wire();
        for (;;) {
            // PIPELINING (RFC 2920): answer every complete command already received, and
            // send the replies together before waiting for more input.
            while (auto line = command_reader_.next(inbox_)) {
                smtp::Action action;
                switch (line->status) {
                    case smtp::CommandLine::Status::complete:
                        if (machine_->pipelining_forbidden(line->text, !inbox_.empty())) {
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
            if (inbox_.empty()) line_deadline_ = Clock::now() + listener_.limits.command_timeout;
            if (!co_await read_more(std::min(line_deadline_, session_ends_), Waiting::command)) {
                if (shutdown_told_) {
                    co_await close_with(machine_->on_shutdown());
                } else if (timed_out_) {
                    co_await close_timed_out_command();
                }
                co_return;
            }
        }
    }

    // A client that is neither allow-listed nor logged in (it cannot be before the
    // greeting) and speaks before the greeting is a spambot that does not wait for
    // replies (postscreen's pre-greet test). Only on clear-text connections: inside
    // implicit TLS the bytes waiting could be the handshake's.
    bool talks_before_greeting() {
        if (tls_ || network_identity_) return false;
        boost::system::error_code ec;
        return lowest_layer().available(ec) > 0 && !ec;
    }

    asio::awaitable<void> refuse_pipelining() {
        spdlog::info("session {} {}: commands before the server's reply", listener_.name,
                     client_ip_);
        cut_session("unauth_pipelining", true);
        outbox_ += smtp::reply::unauth_pipelining(services_.config.hostname).wire();
        co_await flush();
    }

    // Which of the command deadlines passed: the session's life, a command line still
    // arriving (a trickle), or plain silence (an idle client, counted but not a refusal).
    asio::awaitable<void> close_timed_out_command() {
        if (session_ends_ <= line_deadline_) {
            cut_session("session_lifetime", true);
            co_await close_with(closing(smtp::reply::session_too_long(services_.config.hostname)));
        } else if (!inbox_.empty()) {
            cut_session("command_timeout", true);
            co_await close_with(machine_->on_timeout());
        } else {
            cut_session("idle_timeout", false);
            co_await close_with(machine_->on_timeout());
        }
    }

    static smtp::Action closing(smtp::Reply reply) {
        return smtp::Action{smtp::Action::Kind::close, std::move(reply), {}, {}, {}};
    }

    // A session closed by one of its caps: counted by reason, and recorded in rejections
    // when it is abuse rather than an idle client going away.
    void cut_session(std::string_view reason, bool abuse) {
        close_reason_ = std::string(reason);
        metrics::global()
            .smtp_sessions_cut.Add({{"listener", listener_.name}, {"reason", std::string(reason)}})
            .Increment();
        if (!abuse) return;
        if (identity_) {
            record_refusal_of_account(std::string(reason));
        } else {
            record_refusal(std::string(reason));
        }
    }

    // RFC 5321 section 3.1: after a 554 greeting the server waits for QUIT and answers
    // 503 to anything else (until max_errors, then it closes).
    asio::awaitable<void> refuse_service(smtp::Reply greeting) {
        close_reason_ = "refused at connect: " + (greeting.lines.empty() ? "" : greeting.lines[0]);
        outbox_ = greeting.wire();
        std::size_t commands = 0;
        for (;;) {
            if (!co_await flush()) co_return;
            while (auto line = command_reader_.next(inbox_)) {
                std::string verb = line->text.substr(0, 4);
                for (auto& c : verb)
                    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                if (verb == "QUIT" && line->text.size() == 4) {
                    outbox_ += smtp::reply::bye().wire();
                    co_await flush();
                    co_return;
                }
                if (++commands >= listener_.limits.max_errors) {
                    outbox_ += smtp::reply::too_many_errors(services_.config.hostname).wire();
                    co_await flush();
                    co_return;
                }
                outbox_ += smtp::reply::no_service(client_ip_).wire();
            }
            if (!co_await flush()) co_return;
            if (!co_await read_more(Clock::now() + listener_.limits.command_timeout,
                                    Waiting::command)) {
                if (shutdown_told_) {
                    outbox_ += smtp::reply::shutting_down(services_.config.hostname).wire();
                    co_await flush();
                }
                co_return;
            }
        }
    }

    asio::awaitable<void> close_with(smtp::Action action) {
        timed_out_ = false;
        outbox_ += action.reply.wire();
        co_await flush();
    }

    // Carries out one action; false when the session is over.
    asio::awaitable<bool> perform(smtp::Action action) {
        using Kind = smtp::Action::Kind;
        for (;;) {
            count_rejection(action.reply, identity_);
            switch (action.kind) {
                case Kind::reply:
                    outbox_ += action.reply.wire();
                    co_return true;
                case Kind::close:
                    outbox_ += action.reply.wire();
                    if (close_reason_ == "client closed") close_reason_ = "closed by server";
                    if (!action.cap_reached.empty()) cut_session(action.cap_reached, true);
                    if (action.reply.code == 221) close_reason_ = "quit";
                    co_await flush();
                    co_return false;
                case Kind::start_tls:
                    outbox_ += action.reply.wire();
                    if (!co_await flush()) co_return false;
                    // Anything pipelined after STARTTLS was sent in the clear and must not
                    // be executed inside TLS (CVE-2011-0411, RFC 3207 section 4.2).
                    inbox_.clear();
                    if (!co_await tls_handshake()) co_return false;
                    machine_->on_tls_started();
                    identity_ = network_identity_;
                    auth_slot_ = {};
                    co_return true;
                case Kind::authenticate:
                    action = co_await authenticate(std::move(action.auth));
                    continue;
                case Kind::check_policy:
                    if (action.policy.stage == smtp::PolicyStage::sender) {
                        // Issue 11 point 7: a credential disabled, rotated or deleted
                        // since this session logged in sends nothing more on it.
                        const bool valid = co_await credential_still_valid();
                        if (!valid) {
                            outbox_ +=
                                smtp::reply::credential_revoked(services_.config.hostname).wire();
                            close_reason_ = "credential no longer valid";
                            record_refusal_of_account("credential_revoked");
                            co_await flush();
                            co_return false;
                        }
                    }
                    action = co_await check_policy(std::move(action.policy));
                    continue;
                case Kind::receive_data:
                    if (services_.body_budget && !services_.body_budget->has_room()) {
                        // Issue 11 point 14: the bodies in memory are at their bound;
                        // 452 instead of 354 keeps the message with its client.
                        spdlog::warn(
                            "data refused listener={} client={}: {} bytes of message "
                            "data held, the most is {}",
                            listener_.name, client_ip_, services_.body_budget->held(),
                            services_.body_budget->limit());
                        action = machine_->on_data_end(smtp::DataResult::no_storage);
                        continue;
                    }
                    outbox_ += action.reply.wire();
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

    asio::awaitable<smtp::Action> authenticate(smtp::AuthRequest request) {
        auto* throttle = services_.auth_throttle;
        if (throttle) {
            // Asked at every attempt, so a lock set during this session applies to its next
            // one. A locked pair is not verified at all: the right password gets the same
            // 454 as a wrong one until the cool-down ends, from this network only.
            const auto lock = co_await throttle->login_lock(client_network_, request.username);
            if (lock == policy::LoginLock::network) {
                spdlog::info("auth refused listener={} client={}: network {} locked out",
                             listener_.name, client_ip_, client_network_);
                count_auth(listener_.name, smtp::AuthOutcome::temporary_failure);
                close_reason_ = "address locked out after failed logins";
                record_refusal("auth_lockout");
                co_return machine_->on_auth_refused(
                    smtp::reply::client_locked_out(services_.config.hostname, client_network_));
            }
            if (lock == policy::LoginLock::username_network) {
                spdlog::info(
                    "auth refused listener={} client={} user={}: username locked out "
                    "from {}",
                    listener_.name, client_ip_, request.username, client_network_);
                count_auth(listener_.name, smtp::AuthOutcome::temporary_failure);
                auto action = machine_->on_auth_result(smtp::AuthOutcome::temporary_failure);
                action.reply = smtp::reply::username_locked_out();
                co_return action;
            }
        }
        std::string username = request.username;
        auto verdict = co_await services_.authenticator.verify(std::move(request.username),
                                                               std::move(request.password));
        if (verdict.overloaded) {
            count_auth_overloaded(listener_.name);
        } else {
            count_auth(listener_.name, verdict.outcome);
        }
        if (verdict.outcome == smtp::AuthOutcome::success) {
            identity_ = std::move(verdict.identity);
            if (throttle && client_listing_.auth_suspicious()) {
                std::vector<std::string> zones;
                for (const auto& hit : client_listing_.hits)
                    if (hit.auth_suspicious) zones.push_back(hit.zone);
                co_await throttle->record_suspicious_login(
                    identity_->account_id, identity_->credential_id, identity_->username,
                    client_ip_, "dnsbl", std::move(zones));
            } else if (throttle) {
                // The right password for a username others were guessing: maybe its owner,
                // maybe a guess that worked. Let in (contract 8), and shown to the operator.
                const bool flagged = co_await throttle->username_flagged(username);
                if (flagged)
                    co_await throttle->record_suspicious_login(
                        identity_->account_id, identity_->credential_id, identity_->username,
                        client_ip_, "failed_logins", {});
            }
            // Counted once per account: an allow-listed client logging in as its own
            // network's account holds the slot it took at connect.
            if (!network_identity_ || network_identity_->account_id != identity_->account_id) {
                auto refusal = co_await hold_connection(*identity_, auth_slot_);
                if (refusal) {
                    spdlog::info(
                        "auth refused listener={} client={} user={}: account {} at its "
                        "connection limit",
                        listener_.name, client_ip_, identity_->username, identity_->account_name);
                    close_reason_ = "account connection limit";
                    identity_ = network_identity_;
                    co_return machine_->on_auth_refused(std::move(*refusal));
                }
            }
        } else if (verdict.outcome == smtp::AuthOutcome::invalid_credentials) {
            if (throttle) co_await throttle->record_failure(client_network_, username);
            // Slows down password guessing on one connection (RFC 4954 section 4 allows it).
            asio::steady_timer delay(executor_, services_.config.auth_failure_delay);
            co_await delay.async_wait(use_tuple);
            spdlog::info("auth failed listener={} client={}", listener_.name, client_ip_);
        }
        co_return machine_->on_auth_result(verdict.outcome);
    }

    // Counts this session towards the account's concurrent connections, in `slot`; the
    // 421 when the account has its limit open already (across replicas).
    asio::awaitable<std::optional<smtp::Reply>> hold_connection(const Identity& who,
                                                                policy::ConnectionSlot& slot) {
        if (!services_.connections) co_return std::nullopt;
        const std::uint64_t limit = co_await services_.policy.connection_limit(who.account_id);
        auto admitted = services_.connections->admit(who.account_id, who.account_name, limit);
        if (!admitted)
            co_return smtp::reply::account_connection_limit(services_.config.hostname, limit);
        slot = std::move(*admitted);
        co_return std::nullopt;
    }

    void record_refusal(std::string reason) {
        if (!services_.rejections) return;
        NetworkDirectory* networks = listener_.allow_networks ? &services_.networks : nullptr;
        asio::co_spawn(
            executor_,
            record_connect_refusal(networks, *services_.rejections, client_ip_, std::move(reason)),
            asio::detached);
    }

    // A blocklist refusal at MAIL, for the identified account's statistics; like the
    // refusals at connect, the reply does not wait for the insert.
    void record_refusal_of_account(std::string reason) {
        if (services_.rejections && identity_)
            services_.rejections->record(identity_->account_id, std::move(reason));
    }

    // Only for a session that logged in: an allow-listed network's has no credential.
    asio::awaitable<bool> credential_still_valid() {
        if (!identity_ || !identity_->credential_id) co_return true;
        co_return co_await services_.authenticator.still_valid(*identity_);
    }

    // The machine asks only for sessions with an identity; the next command is read only
    // once the verdict is in, so pipelined replies keep their order.
    asio::awaitable<smtp::Action> check_policy(smtp::PolicyQuery query) {
        smtp::PolicyVerdict verdict;
        if (!identity_) {
            spdlog::error("session {} {}: policy check without an identity", listener_.name,
                          client_ip_);
            verdict = smtp::PolicyVerdict::refuse(smtp::reply::policy_unavailable());
        } else {
            verdict = co_await check_policies(query);
        }
        if (verdict.refused()) {
            const auto& refusal = *verdict.refusal;
            spdlog::info("policy refused listener={} client={} account={} address=<{}>: {} {} {}",
                         listener_.name, client_ip_, identity_ ? identity_->account_name : "",
                         query.address, refusal.code, refusal.enhanced,
                         refusal.lines.empty() ? "" : refusal.lines.front());
            if (query.stage == smtp::PolicyStage::message) drop_body();
        }
        co_return machine_->on_policy_verdict(verdict);
    }

    // The account's policy, and at MAIL the DNS blocklists: the client's tempfail
    // listing, then the sender domain's (after the account policy, which needs no DNS).
    asio::awaitable<smtp::PolicyVerdict> check_policies(const smtp::PolicyQuery& query) {
        if (query.stage == smtp::PolicyStage::sender) {
            sender_domain_tags_.clear();
            const auto* hit = client_listing_.strongest();
            if (hit) {
                if (auto refusal = policy::client_refusal_at_mail(*hit, client_ip_)) {
                    record_refusal_of_account("dnsbl");
                    co_return smtp::PolicyVerdict::refuse(std::move(*refusal));
                }
            }
        }
        auto verdict = co_await services_.policy.check(identity_->account_id, query, as_received());
        if (verdict.refused() || query.stage != smtp::PolicyStage::sender ||
            !services_.blocklists || !services_.blocklists->checks_sender_domains())
            co_return verdict;
        const auto at = query.address.rfind('@');
        if (at == std::string::npos) co_return verdict;  // the null sender
        const std::string domain = query.address.substr(at + 1);
        auto listing = co_await services_.blocklists->check_sender_domain(domain);
        const auto* hit = listing.strongest();
        if (!hit) co_return verdict;
        if (auto refusal = policy::sender_domain_refusal(*hit, domain)) {
            record_refusal_of_account("domain_blocklist");
            co_return smtp::PolicyVerdict::refuse(std::move(*refusal));
        }
        sender_domain_tags_ = listing.tag_summary();
        co_return verdict;
    }

    // "zone=answer, ..." of every tag-action listing of this client and sender domain.
    std::string blocklist_tags() const {
        std::string tags = client_listing_.tag_summary();
        if (!tags.empty() && !sender_domain_tags_.empty()) tags += ", ";
        return tags + sender_domain_tags_;
    }

    // Reads the data section; nullopt when the connection ended meanwhile.
    asio::awaitable<std::optional<smtp::Action>> receive_data() {
        smtp::DataReader reader(listener_.limits.max_message_bytes,
                                listener_.limits.max_line_bytes);
        if (services_.body_budget) {
            body_charge_ = BodyBudget::Charge(*services_.body_budget);
            reader.limit_storage(
                [this](std::uint64_t bytes) { return body_charge_.resize(bytes); });
        }
        // The queue id and the Received: field are made now (Postfix also dates it at
        // DATA), so the body is received behind them in the buffer it is stored from.
        message_id_ = queue::new_message_id();
        const std::string prefix = trace_fields(message_id_);
        reader.start_with(prefix);
        if (const auto declared = machine_->envelope().declared_size) reader.expect_size(*declared);
        prefix_size_ = prefix.size();
        const auto started = Clock::now();
        std::uint64_t received = inbox_.size();
        for (;;) {
            const auto used = reader.consume(inbox_);
            inbox_.erase(0, used);
            if (reader.finished()) break;
            // Silence ends the data section after data_timeout; a trickle once its average
            // rate, after the grace, falls below data_min_bytes_per_second.
            const auto silence = Clock::now() + listener_.limits.data_timeout;
            const auto too_slow = slow_data_deadline(started, received);
            if (!co_await read_more(std::min(silence, too_slow), Waiting::data)) {
                // A message cut by the shutdown is not acknowledged: the client keeps it.
                if (shutdown_told_) {
                    co_await close_with(machine_->on_shutdown());
                } else if (timed_out_ && too_slow <= silence) {
                    cut_session("data_rate", true);
                    co_await close_with(
                        closing(smtp::reply::data_too_slow(services_.config.hostname)));
                } else if (timed_out_) {
                    cut_session("data_timeout", true);
                    co_await close_with(machine_->on_timeout());
                }
                co_return std::nullopt;
            }
            received += inbox_.size();
        }
        data_octets_ = reader.octets();
        body_ = reader.take_body();
        auto result = reader.result();
        // Storing the message copies it once more, into the database driver's buffer: that
        // copy is charged now, so a message whose commit would pass the bound is refused
        // like one whose data would, while the client still holds it.
        if (result == smtp::DataResult::ok && services_.body_budget &&
            !body_charge_.resize(body_charge_.bytes() + body_.size()))
            result = smtp::DataResult::no_storage;
        if (result == smtp::DataResult::no_storage)
            spdlog::warn("data refused listener={} client={}: the message would pass {} bytes held",
                         listener_.name, client_ip_, services_.body_budget->limit());
        if (result != smtp::DataResult::ok) drop_body();
        co_return machine_->on_data_end(result);
    }

    // The Received: field, and the DNSBL tags of this client and sender, for message `id`.
    std::string trace_fields(const std::string& id) {
        const auto& envelope = machine_->envelope();
        smtp::ReceivedFields received;
        received.helo = machine_->helo();
        received.client_ip = client_ip_;
        received.by_hostname = services_.config.hostname;
        received.protocol = machine_->protocol_name();
        received.tls_version = tls_version();
        received.tls_cipher = tls_cipher();
        received.queue_id = id;
        if (envelope.recipients.size() == 1)
            received.single_recipient = envelope.recipients[0].address;
        received.date = smtp::rfc5322_date_now();
        std::string fields = smtp::received_header(received);
        if (const auto tags = blocklist_tags(); !tags.empty())
            fields += "X-Smarthost-DNSBL: " + tags + "\r\n";
        return fields;
    }

    // The data section as the client sent it, without the fields the relay put in front.
    std::string_view as_received() const {
        return std::string_view(body_).substr(std::min(prefix_size_, body_.size()));
    }

    void drop_body() {
        std::string().swap(body_);
        prefix_size_ = 0;
        body_charge_.reset();
    }

    // When `received` octets since `started` fall below the minimum data rate.
    Clock::time_point slow_data_deadline(Clock::time_point started, std::uint64_t received) const {
        const auto rate = listener_.limits.data_min_bytes_per_second;
        if (rate == 0) return Clock::time_point::max();
        const auto earned = std::chrono::milliseconds(received * 1000 / rate);
        return started + std::max<Clock::duration>(listener_.limits.data_rate_grace, earned);
    }

    std::uint64_t data_octets_ = 0;
    std::string message_id_;  // made at DATA
    std::string body_;        // trace fields, then the data section: the only copy
    std::size_t prefix_size_ = 0;
    // body_'s memory and the driver's copy of it, until the message is committed
    BodyBudget::Charge body_charge_;

    asio::awaitable<smtp::Action> enqueue() {
        const auto& envelope = machine_->envelope();
        if (!identity_) {
            // The machine accepts recipients only for an identified client; reaching here
            // without one is a bug, and the message must not be stored unattributed.
            spdlog::error("session {} {}: DATA without an identity", listener_.name, client_ip_);
            co_return machine_->on_enqueued("");
        }
        queue::NewMessage message;
        message.id = message_id_;
        message.account_id = identity_->account_id;
        message.credential_id = identity_->credential_id;
        message.client_ip = client_ip_;
        message.client_helo = machine_->helo();
        message.tls_version = tls_version();
        message.envelope = envelope;
        message.header_message_id = smtp::header_message_id(as_received());
        message.body = std::move(body_);
        body_.clear();
        prefix_size_ = 0;

        const auto size = message.body.size();
        const auto recipients = envelope.recipients.size();
        std::string sender = envelope.sender;
        std::string id = message.id;
        if (auto report =
                bounce_report(message, services_.config.hostname, std::chrono::system_clock::now()))
            message.reports.push_back(std::move(*report));
        auto status = co_await services_.committer.enqueue(std::move(message));
        body_charge_.reset();  // committed or failed, the committer holds the body no more
        if (!status) {
            spdlog::warn("message not queued listener={} client={} account={}: {}", listener_.name,
                         client_ip_, identity_->account_name, status.error().message);
            co_return machine_->on_enqueued("");
        }
        ++messages_accepted_;
        count_accepted(*identity_, recipients);
        spdlog::info(
            "accepted id={} account={} user={} client={} tls={} from=<{}> recipients={} size={}",
            id, identity_->account_name, identity_->username, client_ip_,
            tls_version().empty() ? "none" : tls_version(), sender, recipients, size);
        co_return machine_->on_enqueued(id);
    }
};

}  // namespace

void start_session(tcp::socket socket, const ListenerConfig& listener, IngressServices services,
                   std::function<void()> on_end, ClaimClientAddress claim_client) {
    auto executor = socket.get_executor();
    auto session = std::make_shared<Session>(std::move(socket), listener, services,
                                             std::move(on_end), std::move(claim_client));
    session->start_watchdog();
    session->follow_drain();
    asio::co_spawn(
        executor, [session] { return session->run(); }, asio::detached);
}

}  // namespace smarthost::ingress
