#include "tests/support/scriptable_smtp_server.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "relay/smtp/sasl.hpp"

namespace smarthost::test {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

struct Pem {
    std::string certificate;  // the server's own
    std::string private_key;
    std::string chain;           // what the server presents: its certificate, then the CA's
    std::string ca_certificate;  // empty when self-signed
};

std::string pem_of(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    std::string text = bio_text(bio);
    BIO_free(bio);
    return text;
}

// A P-256 key and a certificate for `name` (CN, and subjectAltName unless `ca`), valid
// for a day, signed by `issuer` (itself when null), made in memory.
std::pair<EVP_PKEY*, X509*> make_certificate(const std::string& name, bool ca,
                                             std::pair<EVP_PKEY*, X509*> issuer) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    if (!key || !cert) throw std::runtime_error("cannot make a test certificate");
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), ca ? 2 : 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509* issuer_cert = issuer.second ? issuer.second : cert;
    EVP_PKEY* issuer_key = issuer.first ? issuer.first : key;
    X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer_cert, cert, nullptr, nullptr, 0);
    const std::string value = ca ? "critical,CA:TRUE" : "DNS:" + name;
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(
        nullptr, &context, ca ? NID_basic_constraints : NID_subject_alt_name, value.c_str());
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
    X509_sign(cert, issuer_key, EVP_sha256());
    return {key, cert};
}

// The server's certificate for `name`: self-signed, or issued by a CA made for it.
Pem make_pem(const std::string& name, bool issued_by_ca) {
    std::pair<EVP_PKEY*, X509*> ca{nullptr, nullptr};
    if (issued_by_ca) ca = make_certificate("Scriptable Test CA", true, ca);
    const auto [key, cert] = make_certificate(name, false, ca);
    Pem pem;
    pem.certificate = pem_of(cert);
    pem.chain = pem.certificate;
    if (ca.second) {
        pem.ca_certificate = pem_of(ca.second);
        pem.chain += pem.ca_certificate;
    }
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    pem.private_key = bio_text(bio);
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca.second);
    EVP_PKEY_free(ca.first);
    return pem;
}

std::string upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool starts_with_code(const std::string& reply, char digit) {
    return !reply.empty() && reply[0] == digit;
}

// "<addr> PARAMS" → addr
std::string path_address(std::string_view argument) {
    const auto open = argument.find('<');
    const auto close = argument.find('>', open == std::string_view::npos ? 0 : open);
    if (open == std::string_view::npos || close == std::string_view::npos) return {};
    return std::string(argument.substr(open + 1, close - open - 1));
}

}  // namespace

struct ScriptableSmtpServer::State {
    State(SmtpServerScript initial, std::string address_in, unsigned short port_in)
        : script(std::move(initial)),
          address(std::move(address_in)),
          pem(make_pem(script.hostname, script.issued_by_ca)),
          tls_context(ssl::context::tls_server),
          acceptor(io, tcp::endpoint(asio::ip::make_address(address), port_in)) {
        tls_context.use_certificate_chain(asio::buffer(pem.chain));
        tls_context.use_private_key(asio::buffer(pem.private_key), ssl::context::pem);
        port = acceptor.local_endpoint().port();
        asio::co_spawn(io, accept_loop(), asio::detached);
        thread = std::thread([this] { io.run(); });
    }
    ~State() {
        io.stop();
        thread.join();
    }

    mutable std::mutex mutex;
    SmtpServerScript script;
    std::vector<ReceivedTransaction> transactions;
    std::vector<std::string> commands;
    std::size_t connections = 0;
    std::size_t open_connections = 0;
    std::size_t max_open_connections = 0;

    std::string address;
    Pem pem;
    ssl::context tls_context;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    tcp::acceptor acceptor;
    unsigned short port = 0;
    std::thread thread;

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec) co_return;
            socket.set_option(tcp::no_delay(true), ec);  // replies go out one by one
            SmtpServerScript copy;
            {
                std::lock_guard lock(mutex);
                ++connections;
                max_open_connections = std::max(max_open_connections, ++open_connections);
                copy = script;
            }
            asio::co_spawn(io, serve(std::move(socket), std::move(copy)), asio::detached);
        }
    }

    struct Connection {
        tcp::socket socket;
        std::unique_ptr<ssl::stream<tcp::socket>> tls;
        std::string inbox;
        std::size_t reads = 0;
        std::array<char, 16384> buffer{};

        asio::awaitable<bool> read_more() {
            // No co_await in conditions or conditional operators: g++ 12 miscompiles some.
            std::tuple<boost::system::error_code, std::size_t> outcome;
            if (tls) {
                outcome = co_await tls->async_read_some(asio::buffer(buffer), use_tuple);
            } else {
                outcome = co_await socket.async_read_some(asio::buffer(buffer), use_tuple);
            }
            const auto [ec, n] = outcome;
            if (ec) co_return false;
            ++reads;
            inbox.append(buffer.data(), n);
            co_return true;
        }
        asio::awaitable<std::optional<std::string>> read_line() {
            for (;;) {
                const auto end = inbox.find("\r\n");
                if (end != std::string::npos) {
                    std::string line = inbox.substr(0, end);
                    inbox.erase(0, end + 2);
                    co_return line;
                }
                const bool more = co_await read_more();
                if (!more) co_return std::nullopt;
            }
        }
        // Multi-line replies are given with "\n" between lines.
        asio::awaitable<bool> reply(std::string text) {
            std::string wire;
            std::size_t start = 0;
            for (;;) {
                const auto end = text.find('\n', start);
                wire += text.substr(start, end == std::string::npos ? end : end - start) + "\r\n";
                if (end == std::string::npos) break;
                start = end + 1;
            }
            std::tuple<boost::system::error_code, std::size_t> outcome;
            if (tls) {
                outcome = co_await asio::async_write(*tls, asio::buffer(wire), use_tuple);
            } else {
                outcome = co_await asio::async_write(socket, asio::buffer(wire), use_tuple);
            }
            co_return !std::get<0>(outcome);
        }
        // A stalled server: reads whatever comes and never answers.
        asio::awaitable<void> stall() {
            for (;;) {
                const bool more = co_await read_more();
                if (!more) co_return;
                inbox.clear();
            }
        }
    };

    std::string ehlo_reply(const SmtpServerScript& s, bool tls_active) const {
        std::string out = "250-" + s.hostname;
        if (s.pipelining) out += "\n250-PIPELINING";
        if (s.size) out += "\n250-SIZE " + std::to_string(*s.size);
        if (s.eight_bit_mime) out += "\n250-8BITMIME";
        if (s.smtputf8) out += "\n250-SMTPUTF8";
        if (s.dsn) out += "\n250-DSN";
        if (s.starttls && !tls_active) out += "\n250-STARTTLS";
        if (!s.auth_mechanisms.empty() && tls_active) {
            out += "\n250-AUTH";
            for (const auto& m : s.auth_mechanisms)
                out += " " + m;
        }
        return out + "\n250 ENHANCEDSTATUSCODES";
    }

    // Counts a connection as closed when its coroutine ends, however it ends.
    struct OpenConnection {
        State& state;
        ~OpenConnection() {
            std::lock_guard lock(state.mutex);
            --state.open_connections;
        }
    };

    asio::awaitable<void> serve(tcp::socket socket, SmtpServerScript s) {
        const OpenConnection open{*this};
        Connection c{std::move(socket), nullptr, {}, 0, {}};
        bool sent = false;
        if (s.stall_at == SmtpStep::greeting) {
            co_await c.stall();
            co_return;
        }
        sent = co_await c.reply(s.greeting);
        if (!sent) co_return;
        if (!starts_with_code(s.greeting, '2')) co_return;
        ReceivedTransaction current;
        std::size_t mail_read = 0;
        bool authenticated = false;
        for (;;) {
            auto line = co_await c.read_line();
            if (!line) co_return;
            {
                std::lock_guard lock(mutex);
                commands.push_back(*line);
            }
            const auto verb = upper(line->substr(0, line->find(' ')));
            const std::string argument =
                line->find(' ') == std::string::npos ? "" : line->substr(line->find(' ') + 1);
            std::string answer;
            SmtpStep step = SmtpStep::none;
            if (verb == "EHLO") {
                step = SmtpStep::ehlo;
                current = ReceivedTransaction{};
                current.helo = argument;
                answer = s.ehlo_supported ? ehlo_reply(s, c.tls != nullptr)
                                          : "502 5.5.1 Command not implemented";
            } else if (verb == "HELO") {
                step = SmtpStep::ehlo;
                current = ReceivedTransaction{};
                current.helo = argument;
                answer = "250 " + s.hostname;
            } else if (verb == "STARTTLS") {
                step = SmtpStep::starttls;
                answer = s.starttls_reply;
            } else if (verb == "AUTH") {
                answer = "535 5.7.8 Authentication credentials invalid";
                if (upper(argument.substr(0, 6)) == "PLAIN ") {
                    auto plain = smtp::decode_base64(argument.substr(6));
                    auto expected = std::string(1, '\0') + s.auth_username + '\0' + s.auth_password;
                    if (plain && *plain == expected) answer = "235 2.7.0 Authentication successful";
                } else if (upper(argument) == "LOGIN") {
                    sent = co_await c.reply("334 VXNlcm5hbWU6");
                    if (!sent) co_return;
                    auto user = co_await c.read_line();
                    if (!user) co_return;
                    sent = co_await c.reply("334 UGFzc3dvcmQ6");
                    if (!sent) co_return;
                    auto password = co_await c.read_line();
                    if (!password) co_return;
                    if (smtp::decode_base64(*user) == s.auth_username &&
                        smtp::decode_base64(*password) == s.auth_password)
                        answer = "235 2.7.0 Authentication successful";
                }
                authenticated = answer[0] == '2';
            } else if (verb == "MAIL") {
                step = SmtpStep::mail;
                current.mail_command = *line;
                current.rcpt_commands.clear();
                current.recipients.clear();
                mail_read = c.reads;
                answer = s.mail_reply;
            } else if (verb == "RCPT") {
                step = SmtpStep::rcpt;
                current.rcpt_commands.push_back(*line);
                const auto address = path_address(argument);
                const auto scripted = s.recipient_replies.find(address);
                answer = scripted == s.recipient_replies.end() ? "250 2.1.5 Ok" : scripted->second;
                if (starts_with_code(answer, '2')) current.recipients.push_back(address);
            } else if (verb == "DATA") {
                step = SmtpStep::data;
                answer = current.recipients.empty() ? "554 5.5.1 Error: no valid recipients"
                                                    : s.data_reply;
            } else if (verb == "RSET") {
                step = SmtpStep::rset;
                current.mail_command.clear();
                current.recipients.clear();
                current.rcpt_commands.clear();
                answer = "250 2.0.0 Ok";
            } else if (verb == "NOOP") {
                answer = "250 2.0.0 Ok";
            } else if (verb == "QUIT") {
                co_await c.reply("221 2.0.0 Bye");
                co_return;
            } else {
                answer = "502 5.5.2 Error: command not recognized";
            }
            if (step != SmtpStep::none && step == s.stall_at) {
                co_await c.stall();
                co_return;
            }
            sent = co_await c.reply(answer);
            if (!sent) co_return;

            if (step == SmtpStep::starttls && starts_with_code(answer, '2') && s.broken_tls) {
                co_await c.reply("this is not a TLS handshake");
                co_return;
            }
            if (step == SmtpStep::starttls && starts_with_code(answer, '2')) {
                c.tls =
                    std::make_unique<ssl::stream<tcp::socket>>(std::move(c.socket), tls_context);
                c.inbox.clear();
                auto [ec] = co_await c.tls->async_handshake(ssl::stream_base::server, use_tuple);
                if (ec) co_return;
                current = ReceivedTransaction{};
            }
            if (step == SmtpStep::data && starts_with_code(answer, '3')) {
                current.reads = c.reads - mail_read + 1;
                if (s.drop_mid_data) {
                    if (c.inbox.empty()) co_await c.read_more();
                    co_return;  // the socket closes with the coroutine
                }
                std::string body;
                for (;;) {
                    auto data_line = co_await c.read_line();
                    if (!data_line) co_return;
                    if (*data_line == ".") break;
                    // RFC 5321 section 4.5.2: the receiver drops the first of leading dots.
                    if (!data_line->empty() && (*data_line)[0] == '.') data_line->erase(0, 1);
                    body += *data_line + "\r\n";
                }
                if (s.stall_at == SmtpStep::data_end) {
                    co_await c.stall();
                    co_return;
                }
                if (s.final_delay.count() > 0) {
                    asio::steady_timer delay(io, s.final_delay);
                    co_await delay.async_wait(use_tuple);
                }
                current.body = std::move(body);
                current.tls = c.tls != nullptr;
                current.authenticated = authenticated;
                if (starts_with_code(s.final_reply, '2')) {
                    std::lock_guard lock(mutex);
                    transactions.push_back(current);
                }
                sent = co_await c.reply(s.final_reply);
                if (!sent) co_return;
                current.mail_command.clear();
                current.recipients.clear();
                current.rcpt_commands.clear();
            }
        }
    }
};

ScriptableSmtpServer::ScriptableSmtpServer(SmtpServerScript script, std::string address,
                                           unsigned short port)
    : state_(std::make_unique<State>(std::move(script), std::move(address), port)) {}

ScriptableSmtpServer::~ScriptableSmtpServer() = default;

const std::string& ScriptableSmtpServer::address() const {
    return state_->address;
}
unsigned short ScriptableSmtpServer::port() const {
    return state_->port;
}

void ScriptableSmtpServer::set_script(SmtpServerScript script) {
    std::lock_guard lock(state_->mutex);
    state_->script = std::move(script);
}

std::vector<ReceivedTransaction> ScriptableSmtpServer::transactions() const {
    std::lock_guard lock(state_->mutex);
    return state_->transactions;
}

std::vector<std::string> ScriptableSmtpServer::commands() const {
    std::lock_guard lock(state_->mutex);
    return state_->commands;
}

std::size_t ScriptableSmtpServer::connections() const {
    std::lock_guard lock(state_->mutex);
    return state_->connections;
}

std::size_t ScriptableSmtpServer::max_open_connections() const {
    std::lock_guard lock(state_->mutex);
    return state_->max_open_connections;
}

const std::string& ScriptableSmtpServer::certificate_pem() const {
    return state_->pem.certificate;
}

const std::string& ScriptableSmtpServer::ca_certificate_pem() const {
    return state_->pem.ca_certificate;
}

}  // namespace smarthost::test
