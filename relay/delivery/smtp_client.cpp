#include "relay/delivery/smtp_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "relay/smtp/sasl.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// The body goes out in slices of this size, each under the data-block timeout.
constexpr std::size_t k_body_slice = 64 * 1024;
constexpr std::size_t k_read_chunk = 16 * 1024;

bool is_success(const smtp::Reply& reply) {
    return reply.code >= 200 && reply.code < 300;
}

}  // namespace

struct SmtpClientConnection::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor executor_in, ClientSettings settings_in)
        : executor(std::move(executor_in)),
          settings(std::move(settings_in)),
          socket(executor),
          watchdog(executor) {}

    asio::any_io_executor executor;
    ClientSettings settings;
    tcp::socket socket;  // moved into tls by STARTTLS
    std::unique_ptr<ssl::context> tls_context;
    std::unique_ptr<ssl::stream<tcp::socket>> tls;
    bool tls_verified = false;  // the handshake checked the chain and the host name

    asio::steady_timer watchdog;
    Clock::time_point deadline = Clock::time_point::max();
    bool timed_out = false;
    bool watching = false;
    bool connected = false;

    std::string inbox;
    std::array<char, k_read_chunk> read_buffer{};
    ReplyReader reader;
    smtp::Reply greeting;
    Capabilities capabilities;
    ConnectionInfo info;
    smtp::Reply last_local_failure;  // why the last read or write failed

    tcp::socket& lowest_layer() { return tls ? tls->next_layer() : socket; }

    void close() {
        connected = false;
        boost::system::error_code ignored;
        lowest_layer().close(ignored);
        tls.reset();
        tls_verified = false;
        tls_context.reset();
        socket = tcp::socket(executor);
        inbox.clear();
        reader = ReplyReader();
        deadline = Clock::time_point::max();
        watchdog.cancel();
    }

    // The watchdog pattern of relay/ingress/session.cpp: one timer per connection; when
    // the deadline passes the pending socket operation is cancelled and timed_out is set.
    // Unlike a server session the watchdog runs only while an operation is armed, so an
    // idle connection (between messages, or in a pool) leaves no pending work behind.
    asio::awaitable<void> watch() {
        while (connected && deadline != Clock::time_point::max()) {
            watchdog.expires_at(deadline);
            co_await watchdog.async_wait(use_tuple);
            if (connected && Clock::now() >= deadline) {
                timed_out = true;
                deadline = Clock::time_point::max();
                boost::system::error_code ignored;
                lowest_layer().cancel(ignored);
            }
        }
        watching = false;
    }

    void arm(milliseconds timeout) {
        timed_out = false;
        const auto next = Clock::now() + timeout;
        const bool sooner = next < deadline;
        deadline = next;
        if (!watching) {
            watching = true;
            asio::co_spawn(
                executor, [self = shared_from_this()] { return self->watch(); }, asio::detached);
        } else if (sooner) {
            watchdog.cancel();  // the watchdog re-arms with the nearer deadline
        }
    }
    void disarm() {
        deadline = Clock::time_point::max();
        watchdog.cancel();  // the watchdog ends
    }

    ClientFailure failure(Stage stage, smtp::Reply reply, bool from_remote) const {
        return ClientFailure{stage, std::move(reply), from_remote, false, info};
    }
    StepResult local_failure(Stage stage) const {
        return {failure(stage, last_local_failure, false)};
    }
    StepResult remote_failure(Stage stage, const smtp::Reply& reply) {
        // 421: the server is closing the channel (RFC 5321 section 3.8).
        if (reply.code == 421) close();
        return {failure(stage, reply, true)};
    }

    // Arguments are owned by the coroutine frame: a view of a caller's temporary is not safe
    // across a suspension with g++ 12.
    asio::awaitable<bool> write(std::string bytes, Stage stage, milliseconds timeout) {
        if (!connected) {
            last_local_failure = local_reply::connection_lost(stage);
            co_return false;
        }
        arm(timeout);
        auto buffer = asio::buffer(bytes.data(), bytes.size());
        // No co_await inside a condition or a conditional operator here: g++ 12
        // miscompiles some of those in member coroutines.
        std::tuple<boost::system::error_code, std::size_t> outcome;
        if (tls) {
            outcome = co_await asio::async_write(*tls, buffer, use_tuple);
        } else {
            outcome = co_await asio::async_write(socket, buffer, use_tuple);
        }
        const auto ec = std::get<0>(outcome);
        disarm();
        if (ec) {
            last_local_failure =
                timed_out ? local_reply::timed_out(stage) : local_reply::connection_lost(stage);
            close();
        }
        co_return !ec;
    }

    asio::awaitable<std::optional<smtp::Reply>> read_reply(Stage stage, milliseconds timeout) {
        for (;;) {
            if (auto reply = reader.next(inbox)) {
                disarm();
                co_return reply;
            }
            if (reader.malformed() || !connected) {
                last_local_failure = reader.malformed() ? local_reply::malformed_reply()
                                                        : local_reply::connection_lost(stage);
                close();
                co_return std::nullopt;
            }
            arm(timeout);
            auto buffer = asio::buffer(read_buffer);
            std::tuple<boost::system::error_code, std::size_t> outcome;
            if (tls) {
                outcome = co_await tls->async_read_some(buffer, use_tuple);
            } else {
                outcome = co_await socket.async_read_some(buffer, use_tuple);
            }
            const auto [ec, n] = outcome;
            if (ec) {
                disarm();
                last_local_failure =
                    timed_out ? local_reply::timed_out(stage) : local_reply::connection_lost(stage);
                close();
                co_return std::nullopt;
            }
            inbox.append(read_buffer.data(), n);
        }
    }

    // A command and its reply; nullopt when the connection failed (last_local_failure).
    asio::awaitable<std::optional<smtp::Reply>> command(std::string line, Stage stage,
                                                        milliseconds timeout) {
        const bool sent = co_await write(std::move(line), stage, timeout);
        if (!sent) co_return std::nullopt;
        auto reply = co_await read_reply(stage, timeout);
        co_return reply;
    }

    asio::awaitable<StepResult> connect_one(const tcp::endpoint& address) {
        close();
        info.remote_ip = address.address().to_string();
        info.tls_version.clear();
        boost::system::error_code ec;
        socket.open(address.protocol(), ec);
        if (!ec && settings.source_address &&
            settings.source_address->is_v4() == address.address().is_v4())
            socket.bind(tcp::endpoint(*settings.source_address, 0), ec);
        if (ec)
            co_return StepResult{
                failure(Stage::connect, local_reply::connect_failed(ec.message()), false)};
        connected = true;
        arm(settings.timeouts.connect);
        std::tie(ec) = co_await socket.async_connect(address, use_tuple);
        disarm();
        if (!ec) socket.set_option(tcp::no_delay(true), ec);
        if (ec) {
            const auto detail = timed_out ? std::string("timed out") : ec.message();
            close();
            co_return StepResult{
                failure(Stage::connect, local_reply::connect_failed(detail), false)};
        }
        auto reply = co_await read_reply(Stage::greeting, settings.timeouts.greeting);
        if (!reply) co_return local_failure(Stage::greeting);
        greeting = *reply;
        if (!is_success(greeting)) {
            // RFC 5321 section 3.1: after a 554 greeting the client should QUIT.
            co_await command("QUIT\r\n", Stage::greeting, settings.timeouts.command);
            close();
            co_return StepResult{failure(Stage::greeting, greeting, true)};
        }
        co_return StepResult{};
    }

    asio::awaitable<StepResult> ehlo() {
        capabilities = Capabilities{};
        auto reply = co_await command("EHLO " + settings.helo_name + "\r\n", Stage::ehlo,
                                      settings.timeouts.command);
        if (!reply) co_return local_failure(Stage::ehlo);
        if (is_success(*reply)) {
            capabilities = parse_ehlo(*reply);
            co_return StepResult{};
        }
        if (reply->code < 500) co_return remote_failure(Stage::ehlo, *reply);
        reply = co_await command("HELO " + settings.helo_name + "\r\n", Stage::ehlo,
                                 settings.timeouts.command);
        if (!reply) co_return local_failure(Stage::ehlo);
        if (!is_success(*reply)) co_return remote_failure(Stage::ehlo, *reply);
        co_return StepResult{};
    }

    std::unique_ptr<ssl::context> make_tls_context(std::string& error) {
        auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
        context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3);
        if (settings.tls != TlsPolicy::verify) {
            // Opportunistic TLS (RFC 7435): encryption against passive listeners only.
            context->set_verify_mode(ssl::verify_none);
            return context;
        }
        SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
        boost::system::error_code ec;
        if (settings.tls_ca_file.empty()) {
            context->set_default_verify_paths(ec);
        } else {
            context->load_verify_file(settings.tls_ca_file, ec);
        }
        if (ec) {
            error = "cannot load CA certificates: " + ec.message();
            return nullptr;
        }
        context->set_verify_mode(ssl::verify_peer);
        context->set_verify_callback(ssl::host_name_verification(info.remote_host));
        return context;
    }

    asio::awaitable<StepResult> starttls() {
        const auto policy = settings.tls;
        if (policy == TlsPolicy::none || tls) co_return StepResult{};
        if (!capabilities.starttls) {
            if (policy == TlsPolicy::verify)
                co_return StepResult{
                    failure(Stage::starttls, local_reply::tls_not_offered(), false)};
            co_return StepResult{};
        }
        auto reply = co_await command("STARTTLS\r\n", Stage::starttls, settings.timeouts.command);
        if (!reply) co_return local_failure(Stage::starttls);
        if (reply->code != 220) {
            if (policy == TlsPolicy::verify || reply->code == 421)
                co_return remote_failure(Stage::starttls, *reply);
            co_return StepResult{};  // opportunistic: carry on in the clear
        }
        std::string error;
        tls_context = make_tls_context(error);
        if (!tls_context) {
            close();
            auto result =
                StepResult{failure(Stage::starttls, local_reply::tls_failed(error), false)};
            result.failure->tls_failed = true;
            co_return result;
        }
        tls = std::make_unique<ssl::stream<tcp::socket>>(std::move(socket), *tls_context);
        socket = tcp::socket(executor);
        if (!info.remote_host.empty())
            SSL_set_tlsext_host_name(tls->native_handle(), info.remote_host.c_str());
        // Bytes sent before the handshake must not be read as if protected (RFC 3207
        // section 4.2; the client side of CVE-2011-0411).
        inbox.clear();
        arm(settings.timeouts.tls_handshake);
        auto [ec] = co_await tls->async_handshake(ssl::stream_base::client, use_tuple);
        disarm();
        if (ec) {
            std::string detail = timed_out ? std::string("timed out") : ec.message();
            const auto verify_result = SSL_get_verify_result(tls->native_handle());
            if (verify_result != X509_V_OK) detail = X509_verify_cert_error_string(verify_result);
            close();
            auto result =
                StepResult{failure(Stage::starttls, local_reply::tls_failed(detail), false)};
            result.failure->tls_failed = true;
            co_return result;
        }
        info.tls_version = SSL_get_version(tls->native_handle());
        tls_verified =
            policy == TlsPolicy::verify && SSL_get_verify_result(tls->native_handle()) == X509_V_OK;
        auto result = co_await ehlo();
        co_return result;
    }

    asio::awaitable<StepResult> authenticate(std::string username, std::string password) {
        if (!tls) co_return StepResult{failure(Stage::auth, local_reply::auth_needs_tls(), false)};
        // Unverified TLS stops a passive listener only: whoever sits in the path and
        // presents any certificate would receive the relay password.
        if (!tls_verified && !settings.allow_auth_without_verified_tls)
            co_return StepResult{
                failure(Stage::auth, local_reply::auth_needs_verified_tls(), false)};
        std::optional<smtp::Reply> reply;
        const auto timeout = settings.timeouts.command;
        if (capabilities.offers_auth("PLAIN")) {
            std::string message;
            message.push_back('\0');
            message += username;
            message.push_back('\0');
            message += password;
            reply = co_await command("AUTH PLAIN " + smtp::encode_base64(message) + "\r\n",
                                     Stage::auth, timeout);
        } else if (capabilities.offers_auth("LOGIN")) {
            reply = co_await command("AUTH LOGIN\r\n", Stage::auth, timeout);
            if (reply && reply->code == 334)
                reply =
                    co_await command(smtp::encode_base64(username) + "\r\n", Stage::auth, timeout);
            if (reply && reply->code == 334)
                reply =
                    co_await command(smtp::encode_base64(password) + "\r\n", Stage::auth, timeout);
        } else {
            co_return StepResult{
                failure(Stage::auth, local_reply::auth_mechanism_unavailable(), false)};
        }
        if (!reply) co_return local_failure(Stage::auth);
        if (reply->code != 235) co_return remote_failure(Stage::auth, *reply);
        co_return StepResult{};
    }

    // Reads one reply of the transaction; on failure the undecided recipients are
    // temporary failures and false is returned.
    asio::awaitable<std::optional<smtp::Reply>> transaction_reply(ClientTransaction& transaction,
                                                                  Stage stage,
                                                                  milliseconds timeout) {
        auto reply = co_await read_reply(stage, timeout);
        if (!reply) {
            transaction.on_connection_failed(stage, last_local_failure);
        } else if (reply->code == 421) {
            close();  // replies after a 421 never come; this one still counts
        }
        co_return reply;
    }

    asio::awaitable<bool> send_or_fail(ClientTransaction& transaction, std::string bytes,
                                       Stage stage, milliseconds timeout) {
        const bool sent = co_await write(std::move(bytes), stage, timeout);
        if (sent) co_return true;
        transaction.on_connection_failed(stage, last_local_failure);
        co_return false;
    }

    asio::awaitable<void> run_transaction_pipelined(ClientTransaction& transaction,
                                                    std::string_view body) {
        bool sent = false;
        const auto& timeouts = settings.timeouts;
        const auto count = transaction.recipient_count();
        // RFC 2920 section 3.1: MAIL, RCPT and DATA may go in one group; the replies
        // come in order and each is checked.
        std::string group = transaction.mail_command();
        for (std::size_t i = 0; i < count; ++i)
            group += transaction.rcpt_command(i);
        group += "DATA\r\n";
        sent = co_await send_or_fail(transaction, std::move(group), Stage::mail, timeouts.mail);
        if (!sent) co_return;
        auto reply = co_await transaction_reply(transaction, Stage::mail, timeouts.mail);
        if (!reply) co_return;
        transaction.on_mail_reply(*reply);
        for (std::size_t i = 0; i < count; ++i) {
            reply = co_await transaction_reply(transaction, Stage::rcpt, timeouts.rcpt);
            if (!reply) co_return;
            transaction.on_rcpt_reply(i, *reply);
        }
        reply = co_await transaction_reply(transaction, Stage::data, timeouts.data_init);
        if (!reply) co_return;
        if (!transaction.should_send_body()) {
            // DATA accepted although nothing else was: end the empty data section
            // (RFC 2920 section 3.1); its reply means nothing for the recipients.
            if (reply->code == 354) {
                sent = co_await write(".\r\n", Stage::data_end, timeouts.data_end);
                if (sent) co_await read_reply(Stage::data_end, timeouts.data_end);
            }
            co_return;
        }
        transaction.on_data_reply(*reply);
        if (reply->code != 354) co_return;
        co_await send_body(transaction, body);
    }

    asio::awaitable<void> run_transaction_step_by_step(ClientTransaction& transaction,
                                                       std::string_view body) {
        bool sent = false;
        const auto& timeouts = settings.timeouts;
        sent = co_await send_or_fail(transaction, transaction.mail_command(), Stage::mail,
                                     timeouts.mail);
        if (!sent) co_return;
        auto reply = co_await transaction_reply(transaction, Stage::mail, timeouts.mail);
        if (!reply) co_return;
        transaction.on_mail_reply(*reply);
        if (!transaction.mail_accepted()) co_return;
        for (std::size_t i = 0; i < transaction.recipient_count(); ++i) {
            sent = co_await send_or_fail(transaction, transaction.rcpt_command(i), Stage::rcpt,
                                         timeouts.rcpt);
            if (!sent) co_return;
            reply = co_await transaction_reply(transaction, Stage::rcpt, timeouts.rcpt);
            if (!reply) co_return;
            transaction.on_rcpt_reply(i, *reply);
        }
        if (!transaction.should_send_body()) co_return;
        sent = co_await send_or_fail(transaction, "DATA\r\n", Stage::data, timeouts.data_init);
        if (!sent) co_return;
        reply = co_await transaction_reply(transaction, Stage::data, timeouts.data_init);
        if (!reply) co_return;
        transaction.on_data_reply(*reply);
        if (reply->code != 354) co_return;
        co_await send_body(transaction, body);
    }

    asio::awaitable<void> send_body(ClientTransaction& transaction, std::string_view body) {
        bool sent = false;
        const auto& timeouts = settings.timeouts;
        DotStuffer stuffer;
        std::size_t offset = 0;
        do {
            std::string slice;
            stuffer.feed(body.substr(offset, k_body_slice), slice);
            offset += k_body_slice;
            // The terminator rides with the last slice: a tiny write of its own would wait
            // for the previous one's ACK (Nagle with delayed ACK).
            if (offset >= body.size()) stuffer.finish(slice);
            sent = co_await send_or_fail(transaction, std::move(slice), Stage::data_end,
                                         timeouts.data_block);
            if (!sent) co_return;
        } while (offset < body.size());
        auto reply = co_await transaction_reply(transaction, Stage::data_end, timeouts.data_end);
        if (reply) transaction.on_final_reply(*reply);
    }
};

SmtpClientConnection::SmtpClientConnection(asio::any_io_executor executor, ClientSettings settings)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(settings))) {}

SmtpClientConnection::~SmtpClientConnection() {
    impl_->close();
}

asio::awaitable<StepResult> SmtpClientConnection::connect(std::string remote_host,
                                                          std::vector<tcp::endpoint> addresses) {
    auto impl = impl_;
    impl->info.remote_host = std::move(remote_host);
    StepResult result{
        impl->failure(Stage::connect, local_reply::connect_failed("no address"), false)};
    for (const auto& address : addresses) {
        result = co_await impl->connect_one(address);
        if (result) break;
    }
    co_return result;
}

asio::awaitable<StepResult> SmtpClientConnection::ehlo() {
    auto impl = impl_;
    auto result = co_await impl->ehlo();
    co_return result;
}

asio::awaitable<StepResult> SmtpClientConnection::starttls() {
    auto impl = impl_;
    auto result = co_await impl->starttls();
    co_return result;
}

asio::awaitable<StepResult> SmtpClientConnection::open(std::string remote_host,
                                                       std::vector<tcp::endpoint> addresses) {
    auto result = co_await connect(std::move(remote_host), std::move(addresses));
    if (result) result = co_await ehlo();
    if (result) result = co_await starttls();
    co_return result;
}

asio::awaitable<StepResult> SmtpClientConnection::authenticate(std::string username,
                                                               std::string password) {
    auto impl = impl_;
    auto result = co_await impl->authenticate(std::move(username), std::move(password));
    co_return result;
}

asio::awaitable<DeliveryReport> SmtpClientConnection::send_message(const smtp::Envelope& envelope,
                                                                   std::string_view body) {
    auto impl = impl_;
    ClientTransaction transaction(impl->capabilities, envelope, message_traits(envelope, body));
    DeliveryReport report;
    report.eight_bit_without_8bitmime = transaction.eight_bit_without_8bitmime();
    if (!transaction.refused_before_sending()) {
        if (!impl->connected) {
            transaction.on_connection_failed(Stage::mail,
                                             local_reply::connection_lost(Stage::mail));
        } else if (impl->capabilities.pipelining) {
            report.pipelined = true;
            co_await impl->run_transaction_pipelined(transaction, body);
        } else {
            co_await impl->run_transaction_step_by_step(transaction, body);
        }
    }
    report.recipients = transaction.results();
    report.connection = impl->info;
    co_return report;
}

asio::awaitable<StepResult> SmtpClientConnection::reset() {
    auto impl = impl_;
    auto reply = co_await impl->command("RSET\r\n", Stage::mail, impl->settings.timeouts.command);
    if (!reply) co_return impl->local_failure(Stage::mail);
    if (!is_success(*reply)) {
        // A server that cannot reset cannot be trusted with the next transaction.
        auto result = impl->remote_failure(Stage::mail, *reply);
        impl->close();
        co_return result;
    }
    co_return StepResult{};
}

asio::awaitable<void> SmtpClientConnection::quit() {
    auto impl = impl_;
    if (impl->connected)
        co_await impl->command("QUIT\r\n", Stage::local, impl->settings.timeouts.command);
    impl->close();
}

bool SmtpClientConnection::usable() const {
    return impl_->connected;
}
const Capabilities& SmtpClientConnection::capabilities() const {
    return impl_->capabilities;
}
const smtp::Reply& SmtpClientConnection::greeting() const {
    return impl_->greeting;
}
const ConnectionInfo& SmtpClientConnection::info() const {
    return impl_->info;
}

}  // namespace smarthost::delivery
