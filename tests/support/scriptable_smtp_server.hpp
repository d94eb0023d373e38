#pragma once
// A receiving SMTP server for tests of the outbound client: on 127.0.0.x and a free port,
// on its own thread, doing what the test's script says (replies per recipient, greeting,
// STARTTLS with a self-signed certificate, extensions offered or not, a dropped connection
// mid-DATA, a stall at a chosen step), and recording every transaction it received.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace smarthost::test {

enum class SmtpStep { none, greeting, ehlo, starttls, mail, rcpt, data, data_end, rset };

struct SmtpServerScript {
    std::string hostname = "mx.test";                       // also the certificate's name
    std::string greeting = "220 mx.test ESMTP scriptable";  // whole reply, CRLFs added
    bool ehlo_supported = true;  // false: EHLO gets 502, the client must fall back to HELO
    bool pipelining = true;
    bool eight_bit_mime = true;
    bool smtputf8 = false;
    bool dsn = false;
    std::optional<std::uint64_t> size;  // SIZE n
    bool starttls = false;              // offer STARTTLS
    std::string starttls_reply = "220 2.0.0 Ready to start TLS";
    bool broken_tls = false;  // after a 2xx to STARTTLS, answer the handshake with garbage
    // The certificate is issued by a CA made for this server, which the chain includes
    // (for DANE-TA records); otherwise it is self-signed.
    bool issued_by_ca = false;
    std::vector<std::string> auth_mechanisms;  // offered (after TLS), e.g. {"PLAIN", "LOGIN"}
    std::string auth_username;
    std::string auth_password;
    std::string mail_reply = "250 2.1.0 Ok";
    std::map<std::string, std::string> recipient_replies;  // address → reply; default 250 2.1.5
    std::string data_reply = "354 End data with <CR><LF>.<CR><LF>";
    std::string final_reply = "250 2.0.0 Ok: queued";
    SmtpStep stall_at = SmtpStep::none;        // read on but never answer from this step on
    bool drop_mid_data = false;                // close the connection after the first data bytes
    std::chrono::milliseconds final_delay{0};  // wait this long before the final reply
};

struct ReceivedTransaction {
    std::string helo;
    bool tls = false;
    bool authenticated = false;
    std::string mail_command;                // the whole MAIL line, without CRLF
    std::vector<std::string> rcpt_commands;  // every RCPT line, accepted or not
    std::vector<std::string> recipients;     // the accepted addresses
    std::string body;                        // the data after un-stuffing, exact bytes
    std::size_t reads = 0;  // socket reads that carried MAIL..DATA: 1 when pipelined
};

class ScriptableSmtpServer {
  public:
    // Port 0: a free one. Tests of delivery by MX give several servers, each on its own
    // 127.0.0.x, the same port (the relay's mx_port).
    explicit ScriptableSmtpServer(SmtpServerScript script, std::string address = "127.0.0.1",
                                  unsigned short port = 0);
    ~ScriptableSmtpServer();
    ScriptableSmtpServer(const ScriptableSmtpServer&) = delete;
    ScriptableSmtpServer& operator=(const ScriptableSmtpServer&) = delete;

    const std::string& address() const;
    unsigned short port() const;
    // Takes effect for connections accepted afterwards.
    void set_script(SmtpServerScript script);

    std::vector<ReceivedTransaction> transactions() const;  // completed ones (final reply sent)
    std::vector<std::string> commands() const;              // every command line, in order
    std::size_t connections() const;
    std::size_t max_open_connections() const;  // the most open at one time
    // The self-signed certificate (PEM), to trust it in a test of the verify policy.
    const std::string& certificate_pem() const;
    const std::string& ca_certificate_pem() const;  // its issuer's, when issued_by_ca

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace smarthost::test
