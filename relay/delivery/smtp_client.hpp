#pragma once
// One outbound SMTP connection (RFC 5321 client): connect, EHLO, STARTTLS by policy,
// AUTH for an upstream relay, any number of transactions with per-recipient results
// (PIPELINING when offered), RSET between them, QUIT. The protocol decisions are
// relay/delivery/client_machine's; this is the I/O around it, over core/net's
// DeadlineStream (relay/delivery/client_channel) with the RFC 5321 section 4.5.3.2
// timeouts. Expected failures are values: StepResult and DeliveryReport.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/delivery/client_machine.hpp"
#include "relay/dns/answers.hpp"

namespace smarthost::delivery {

enum class TlsPolicy {
    none,           // never STARTTLS
    opportunistic,  // STARTTLS when offered, certificate not checked (RFC 7435)
    verify,         // STARTTLS required, chain and host name verified, else no delivery
    // RFC 7672: STARTTLS required and the certificate matched against the host's TLSA
    // records (ClientSettings::tlsa; none: any certificate). Every failure is temporary
    // (4.7.5) and never followed by clear text.
    dane,
    require,  // STARTTLS required, certificate not checked; never in clear text
};

// How a connection under TlsPolicy::dane went (smarthost_dane_checks_total).
enum class DaneCheck { not_checked, verified, unauthenticated, mismatch, no_tls };

// STARTTLS must succeed: no delivery in clear text to a server that lacks or refuses it
// (TlsPolicy::dane has its own failures, DaneCheck).
constexpr bool tls_mandatory(TlsPolicy policy) {
    return policy == TlsPolicy::verify || policy == TlsPolicy::require;
}

// RFC 5321 section 4.5.3.2 gives the minimums for the commands of a transaction; the
// others are Postfix's defaults. Milliseconds so that tests can use short ones.
struct ClientTimeouts {
    std::chrono::milliseconds connect{std::chrono::seconds(30)};
    std::chrono::milliseconds greeting{std::chrono::minutes(5)};
    std::chrono::milliseconds command{std::chrono::minutes(5)};  // EHLO, STARTTLS, AUTH, RSET, QUIT
    std::chrono::milliseconds tls_handshake{std::chrono::seconds(30)};
    std::chrono::milliseconds mail{std::chrono::minutes(5)};
    std::chrono::milliseconds rcpt{std::chrono::minutes(5)};
    std::chrono::milliseconds data_init{std::chrono::minutes(2)};
    std::chrono::milliseconds data_block{std::chrono::minutes(3)};
    std::chrono::milliseconds data_end{std::chrono::minutes(10)};
};

struct ClientSettings {
    std::string helo_name;  // our host name, sent in EHLO/HELO
    TlsPolicy tls = TlsPolicy::opportunistic;
    std::string tls_ca_file;  // for TlsPolicy::verify; empty: the system's default CA paths
    // For TlsPolicy::dane: the usable TLSA records of the host (relay/delivery/dane.hpp);
    // empty means TLS without authentication (RFC 7672 section 2.2). The next-hop domain
    // is a second name a DANE-TA(2) certificate may carry (RFC 7672 section 3.2.2).
    std::vector<dns::TlsaRecord> tlsa;
    std::string next_hop_domain;
    // authenticate() also over TLS whose certificate was not verified; never without TLS.
    bool allow_auth_without_verified_tls = false;
    std::optional<boost::asio::ip::address> source_address;  // bind before connecting
    ClientTimeouts timeouts;
};

// Every step (connect, EHLO, STARTTLS, AUTH, RSET) either succeeds or gives the result
// the mail gets if the caller gives up on this host: the server's refusal, or our own
// reply for what went wrong locally, with the peer as far as it got.
struct StepResult {
    std::optional<AttemptResult> failure;
    // The TLS handshake failed: under the opportunistic policy the caller may retry this
    // host without TLS, or try the next MX.
    bool tls_failed = false;
    DaneCheck dane = DaneCheck::not_checked;
    bool ok() const { return !failure; }
    explicit operator bool() const { return ok(); }
};

struct DeliveryReport {
    std::vector<AttemptResult> recipients;    // in envelope order, each with the peer
    bool pipelined = false;                   // MAIL, RCPTs and DATA went in one write
    bool eight_bit_without_8bitmime = false;  // see ClientTransaction
};

class SmtpClientConnection {
  public:
    SmtpClientConnection(boost::asio::any_io_executor executor, ClientSettings settings);
    ~SmtpClientConnection();  // closes the socket without QUIT
    SmtpClientConnection(const SmtpClientConnection&) = delete;
    SmtpClientConnection& operator=(const SmtpClientConnection&) = delete;

    // Tries the addresses in order until one accepts the connection within the connect
    // timeout and greets with 2xx (RFC 5321 section 5.1: move on after a failure). The
    // failure returned is the last address's. `remote_host` is the name the addresses
    // belong to: it is logged, sent as SNI and verified under TlsPolicy::verify.
    boost::asio::awaitable<StepResult> connect(
        std::string remote_host, std::vector<boost::asio::ip::tcp::endpoint> addresses);
    // EHLO, and HELO when EHLO gets a 5xx (RFC 5321 section 4.1.4).
    boost::asio::awaitable<StepResult> ehlo();
    // STARTTLS as the policy says, then EHLO again (RFC 3207 section 4.2). Under
    // `opportunistic` a server that does not offer it, or refuses it, is used in the clear.
    boost::asio::awaitable<StepResult> starttls();
    // connect(), ehlo() and starttls(): the usual opening.
    boost::asio::awaitable<StepResult> open(std::string remote_host,
                                            std::vector<boost::asio::ip::tcp::endpoint> addresses);
    // AUTH PLAIN (or LOGIN when PLAIN is not offered), only over TLS whose chain and host
    // name were verified (TlsPolicy::verify), or over any TLS when the settings allow it.
    // Otherwise nothing is sent and the failure is a local 454 4.7.0.
    boost::asio::awaitable<StepResult> authenticate(std::string username, std::string password);

    // One transaction. `envelope` and `body` (CRLF line ends) must stay alive until it
    // completes. Every recipient gets a result; a broken connection makes undecided ones
    // temporary failures and usable() false.
    boost::asio::awaitable<DeliveryReport> send_message(const smtp::Envelope& envelope,
                                                        std::string_view body);
    // RSET, before reusing the connection for the next message.
    boost::asio::awaitable<StepResult> reset();
    // QUIT and close; never fails.
    boost::asio::awaitable<void> quit();

    // Connected, greeted, and not broken by a timeout, a lost connection or a 421.
    bool usable() const;
    const Capabilities& capabilities() const;
    const smtp::Reply& greeting() const;
    const queue::Peer& peer() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;  // kept alive by each pending operation
};

}  // namespace smarthost::delivery
