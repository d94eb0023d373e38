#include "relay/delivery/smtp_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <utility>

#include "relay/delivery/client_channel.hpp"
#include "relay/delivery/client_transaction_io.hpp"
#include "relay/smtp/sasl.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using Clock = net::DeadlineStream::Clock;

bool is_success(const smtp::Reply& reply) {
    return reply.code >= 200 && reply.code < 300;
}

// How a connect or handshake failure reads in the made-up reply.
std::string failure_detail(const boost::system::error_code& ec) {
    return ec == asio::error::timed_out ? std::string("timed out") : ec.message();
}

}  // namespace

struct SmtpClientConnection::Impl {
    Impl(const asio::any_io_executor& executor, ClientSettings settings_in)
        : settings(std::move(settings_in)), channel(executor) {}

    ClientSettings settings;
    ClientChannel channel;
    bool tls_verified = false;  // the handshake checked the chain and the host name

    smtp::Reply greeting;
    Capabilities capabilities;
    queue::Peer peer;

    void close() { channel.close(); }

    AttemptResult failure(Stage stage, smtp::Reply reply, bool remote) const {
        AttemptResult result;
        result.verdict = verdict_of(reply.code);
        result.reply = std::move(reply);
        result.remote = remote;
        result.stage = stage;
        result.peer = peer;
        return result;
    }
    StepResult local_failure(Stage stage) const {
        return {failure(stage, channel.last_local_failure(), false)};
    }
    StepResult remote_failure(Stage stage, const smtp::Reply& reply) {
        // 421: the server is closing the channel (RFC 5321 section 3.8).
        if (reply.code == 421) close();
        return {failure(stage, reply, true)};
    }

    asio::awaitable<StepResult> connect_one(const tcp::endpoint& address) {
        close();
        tls_verified = false;
        peer.ip = address.address().to_string();
        peer.tls_version.clear();
        auto& stream = channel.stream();
        boost::system::error_code ec;
        stream.socket().open(address.protocol(), ec);
        if (!ec && settings.source_address &&
            settings.source_address->is_v4() == address.address().is_v4())
            stream.socket().bind(tcp::endpoint(*settings.source_address, 0), ec);
        if (ec)
            co_return StepResult{
                failure(Stage::connect, local_reply::connect_failed(ec.message()), false)};
        channel.mark_connected();
        ec = co_await stream.connect(address, Clock::now() + settings.timeouts.connect);
        if (!ec) stream.socket().set_option(tcp::no_delay(true), ec);
        if (ec) {
            close();
            co_return StepResult{
                failure(Stage::connect, local_reply::connect_failed(failure_detail(ec)), false)};
        }
        auto reply = co_await channel.read_reply(Stage::greeting, settings.timeouts.greeting);
        if (!reply) co_return local_failure(Stage::greeting);
        greeting = *reply;
        if (!is_success(greeting)) {
            // RFC 5321 section 3.1: after a 554 greeting the client should QUIT.
            co_await channel.command("QUIT\r\n", Stage::greeting, settings.timeouts.command);
            close();
            co_return StepResult{failure(Stage::greeting, greeting, true)};
        }
        co_return StepResult{};
    }

    asio::awaitable<StepResult> ehlo() {
        capabilities = Capabilities{};
        auto reply = co_await channel.command("EHLO " + settings.helo_name + "\r\n", Stage::ehlo,
                                              settings.timeouts.command);
        if (!reply) co_return local_failure(Stage::ehlo);
        if (is_success(*reply)) {
            capabilities = parse_ehlo(*reply);
            co_return StepResult{};
        }
        if (reply->code < 500) co_return remote_failure(Stage::ehlo, *reply);
        reply = co_await channel.command("HELO " + settings.helo_name + "\r\n", Stage::ehlo,
                                         settings.timeouts.command);
        if (!reply) co_return local_failure(Stage::ehlo);
        if (!is_success(*reply)) co_return remote_failure(Stage::ehlo, *reply);
        co_return StepResult{};
    }

    std::shared_ptr<ssl::context> make_tls_context(std::string& error) {
        auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
        context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3);
        if (settings.tls == TlsPolicy::dane) {
            // RFC 7672 section 3.1.3: PKIX usages are not used for SMTP, so no CA store;
            // without TLSA records TLS is mandatory but unauthenticated (section 2.2).
            if (settings.tlsa.empty() || SSL_CTX_dane_enable(context->native_handle()) <= 0) {
                context->set_verify_mode(ssl::verify_none);
                if (!settings.tlsa.empty()) error = "OpenSSL has no DANE support";
                return settings.tlsa.empty() ? context : nullptr;
            }
            context->set_verify_mode(ssl::verify_peer);
            return context;
        }
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
        return context;
    }

    // A failure to start TLS under TlsPolicy::dane: always temporary, the connection
    // closed, never clear text after it.
    StepResult dane_failure(const smtp::Reply& reply, DaneCheck check) {
        close();
        StepResult result{failure(Stage::starttls, reply, false)};
        result.tls_failed = true;
        result.dane = check;
        return result;
    }

    // TlsPolicy::dane with records: OpenSSL matches the chain against them during the
    // handshake (RFC 7671, 7672). The MX host name is the reference name for DANE-TA(2),
    // the next-hop domain a second one; DANE-EE(3) matches skip name checks (RFC 7672
    // section 3.1.1). False when OpenSSL took none of the records: unauthenticated TLS.
    bool add_tlsa_records(SSL* tls) const {
        if (SSL_dane_enable(tls, peer.host.c_str()) <= 0) return false;
        SSL_dane_set_flags(tls, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
        if (!settings.next_hop_domain.empty() && settings.next_hop_domain != peer.host)
            SSL_add1_host(tls, settings.next_hop_domain.c_str());
        int usable = 0;
        for (const auto& record : settings.tlsa) {
            const auto* data = reinterpret_cast<const unsigned char*>(record.data.data());
            if (SSL_dane_tlsa_add(tls, record.usage, record.selector, record.matching_type, data,
                                  record.data.size()) > 0)
                ++usable;
        }
        return usable > 0;
    }

    asio::awaitable<StepResult> starttls() {
        const auto policy = settings.tls;
        const bool dane = policy == TlsPolicy::dane;
        auto& stream = channel.stream();
        if (policy == TlsPolicy::none || stream.tls_active()) co_return StepResult{};
        if (!capabilities.starttls) {
            if (dane)
                co_return dane_failure(local_reply::dane_tls_not_offered(), DaneCheck::no_tls);
            if (tls_mandatory(policy))
                co_return StepResult{
                    failure(Stage::starttls, local_reply::tls_not_offered(), false)};
            co_return StepResult{};
        }
        auto reply =
            co_await channel.command("STARTTLS\r\n", Stage::starttls, settings.timeouts.command);
        if (!reply) co_return local_failure(Stage::starttls);
        if (reply->code != 220) {
            if (dane)
                co_return dane_failure(local_reply::dane_starttls_refused(*reply),
                                       DaneCheck::no_tls);
            if (tls_mandatory(policy) || reply->code == 421)
                co_return remote_failure(Stage::starttls, *reply);
            co_return StepResult{};  // opportunistic: carry on in the clear
        }
        std::string error;
        auto tls_context = make_tls_context(error);
        if (!tls_context) {
            if (dane)
                co_return dane_failure(local_reply::dane_tls_failed(error), DaneCheck::mismatch);
            close();
            auto result =
                StepResult{failure(Stage::starttls, local_reply::tls_failed(error), false)};
            result.tls_failed = true;
            co_return result;
        }
        auto& tls = stream.start_tls(std::move(tls_context));
        if (!peer.host.empty()) SSL_set_tlsext_host_name(tls.native_handle(), peer.host.c_str());
        if (policy == TlsPolicy::verify)
            tls.set_verify_callback(ssl::host_name_verification(peer.host));
        const bool authenticating =
            dane && !settings.tlsa.empty() && add_tlsa_records(tls.native_handle());
        if (dane && !authenticating) SSL_set_verify(tls.native_handle(), SSL_VERIFY_NONE, nullptr);
        channel.discard_input();
        const auto ec = co_await stream.handshake(ssl::stream_base::client,
                                                  Clock::now() + settings.timeouts.tls_handshake);
        if (ec) {
            std::string detail = failure_detail(ec);
            const auto verify_result = SSL_get_verify_result(stream.tls_handle());
            if (verify_result != X509_V_OK) detail = X509_verify_cert_error_string(verify_result);
            if (dane)
                co_return dane_failure(local_reply::dane_tls_failed(detail), DaneCheck::mismatch);
            close();
            auto result =
                StepResult{failure(Stage::starttls, local_reply::tls_failed(detail), false)};
            result.tls_failed = true;
            co_return result;
        }
        // The handshake cannot succeed under SSL_VERIFY_PEER without a match; checked
        // again so that a change of verify mode can never pass a mismatch silently.
        const bool dane_matched =
            authenticating && SSL_get0_dane_authority(stream.tls_handle(), nullptr, nullptr) >= 0;
        if (authenticating && !dane_matched)
            co_return dane_failure(local_reply::dane_tls_failed("no TLSA record matched"),
                                   DaneCheck::mismatch);
        peer.tls_version = stream.tls_version();
        tls_verified = dane_matched || (policy == TlsPolicy::verify &&
                                        SSL_get_verify_result(stream.tls_handle()) == X509_V_OK);
        auto result = co_await ehlo();
        if (dane) result.dane = dane_matched ? DaneCheck::verified : DaneCheck::unauthenticated;
        co_return result;
    }

    asio::awaitable<StepResult> authenticate(std::string username, std::string password) {
        if (!channel.stream().tls_active())
            co_return StepResult{failure(Stage::auth, local_reply::auth_needs_tls(), false)};
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
            reply = co_await channel.command("AUTH PLAIN " + smtp::encode_base64(message) + "\r\n",
                                             Stage::auth, timeout);
        } else if (capabilities.offers_auth("LOGIN")) {
            reply = co_await channel.command("AUTH LOGIN\r\n", Stage::auth, timeout);
            if (reply && reply->code == 334)
                reply = co_await channel.command(smtp::encode_base64(username) + "\r\n",
                                                 Stage::auth, timeout);
            if (reply && reply->code == 334)
                reply = co_await channel.command(smtp::encode_base64(password) + "\r\n",
                                                 Stage::auth, timeout);
        } else {
            co_return StepResult{
                failure(Stage::auth, local_reply::auth_mechanism_unavailable(), false)};
        }
        if (!reply) co_return local_failure(Stage::auth);
        if (reply->code != 235) co_return remote_failure(Stage::auth, *reply);
        co_return StepResult{};
    }
};

SmtpClientConnection::SmtpClientConnection(asio::any_io_executor executor, ClientSettings settings)
    : impl_(std::make_shared<Impl>(executor, std::move(settings))) {}

SmtpClientConnection::~SmtpClientConnection() {
    impl_->close();
}

asio::awaitable<StepResult> SmtpClientConnection::connect(std::string remote_host,
                                                          std::vector<tcp::endpoint> addresses) {
    auto impl = impl_;
    impl->peer.host = std::move(remote_host);
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
        if (!impl->channel.connected()) {
            transaction.on_connection_failed(Stage::mail,
                                             local_reply::connection_lost(Stage::mail));
        } else {
            report.pipelined = impl->capabilities.pipelining;
            co_await run_transaction(impl->channel, transaction, impl->settings.timeouts,
                                     report.pipelined, body);
        }
    }
    report.recipients = transaction.results();
    for (auto& result : report.recipients) {
        result.peer = impl->peer;
        result.peer.dsn = impl->capabilities.dsn;
    }
    co_return report;
}

asio::awaitable<StepResult> SmtpClientConnection::reset() {
    auto impl = impl_;
    auto reply =
        co_await impl->channel.command("RSET\r\n", Stage::mail, impl->settings.timeouts.command);
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
    if (impl->channel.connected())
        co_await impl->channel.command("QUIT\r\n", Stage::local, impl->settings.timeouts.command);
    impl->close();
}

bool SmtpClientConnection::usable() const {
    return impl_->channel.connected();
}
const Capabilities& SmtpClientConnection::capabilities() const {
    return impl_->capabilities;
}
const smtp::Reply& SmtpClientConnection::greeting() const {
    return impl_->greeting;
}
const queue::Peer& SmtpClientConnection::peer() const {
    return impl_->peer;
}

}  // namespace smarthost::delivery
