#pragma once
// The SMTP server session as a state machine (RFC 5321, 3207, 4954, 1870, 6152, 6531,
// 3461, 2920, 2034). It turns command lines and the outcomes of I/O work into replies
// and actions; it never touches a socket, a clock or the database.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/smtp/data_reader.hpp"
#include "relay/smtp/envelope.hpp"
#include "relay/smtp/reply.hpp"

namespace smarthost::smtp {

struct SessionSettings {
    std::string hostname;                   // our name in the greeting and replies
    bool starttls_available = false;        // STARTTLS listener with a certificate loaded
    bool tls_active = false;                // implicit TLS listener: TLS from the first byte
    bool auth_allowed_without_tls = false;  // contract 3: only for tests, set explicitly
    bool client_allowlisted = false;        // client in an account's network, listener permits it
    std::uint64_t max_message_bytes = 26214400;
    std::size_t max_recipients = 100;
    std::size_t max_errors = 10;  // then 421 and close
};

struct AuthRequest {
    std::string mechanism;  // "PLAIN" or "LOGIN"
    std::string authzid;    // PLAIN authorization identity, empty if none
    std::string username;
    std::string password;
};

enum class AuthOutcome { success, invalid_credentials, temporary_failure };

struct Action {
    enum class Kind {
        reply,      // send `reply`, read the next command
        start_tls,  // send `reply` (220), discard buffered input, handshake, then on_tls_started()
        authenticate,  // verify `auth`, then on_auth_result()
        receive_data,  // send `reply` (354), read the data section, then on_data_end()
        enqueue,       // commit envelope() and the body durably, then on_enqueued()
        close,         // send `reply` (221 or 421) and close the connection
    };
    Kind kind = Kind::reply;
    Reply reply;
    AuthRequest auth;  // for authenticate
};

class SessionMachine {
  public:
    explicit SessionMachine(SessionSettings settings);

    Reply greeting() const;  // 220 <hostname> ESMTP

    // One command line (or AUTH continuation line) without its CRLF.
    Action on_line(std::string_view line);
    // The line reader reported an overlong line (500 5.5.2) or a bare LF (500 5.5.2).
    Action on_line_too_long();
    Action on_bare_lf();

    // TLS is up after STARTTLS: the session is reset and EHLO is required again.
    void on_tls_started();
    Action on_auth_result(AuthOutcome outcome);
    // The data section ended (CRLF.CRLF seen). On ok: an enqueue action. Otherwise the
    // 5xx reply for the problem, and the transaction is reset.
    Action on_data_end(DataResult result);
    // The message was committed (queue_id non-empty) or could not be (451 4.3.0).
    Action on_enqueued(std::string_view queue_id);
    // The client was silent past the timeout (421 4.4.2) or the server is shutting down.
    Action on_timeout();
    Action on_shutdown();

    const Envelope& envelope() const { return envelope_; }
    const std::string& helo() const { return helo_; }
    bool tls_active() const { return tls_active_; }
    bool authenticated() const { return authenticated_; }
    const std::string& auth_username() const { return auth_username_; }
    // RFC 3848 protocol name for the Received: header: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA.
    std::string protocol_name() const;

  private:
    enum class State {
        greeted,     // no EHLO/HELO yet
        ready,       // after EHLO/HELO, no transaction
        mail,        // MAIL accepted
        rcpt,        // at least one RCPT accepted
        auth_plain,  // waiting for the PLAIN response
        auth_login_username,
        auth_login_password,
        auth_pending,  // waiting for on_auth_result
        data,          // receiving the data section
        enqueue_pending,
        tls_pending,
        closed,
    };

    SessionSettings settings_;
    State state_ = State::greeted;
    bool esmtp_ = false;
    bool tls_active_ = false;
    bool authenticated_ = false;
    std::size_t errors_ = 0;
    std::string helo_;
    std::string auth_username_;
    AuthRequest pending_auth_;
    Envelope envelope_;

    // Implementation helpers are private member functions defined in the .cpp.
    Action error(Reply reply);  // counts the error; closes past max_errors
    void reset_transaction();

    Action on_command(std::string_view line);
    Action on_helo(std::string_view argument, bool esmtp);
    Action on_starttls(std::string_view argument);
    Action on_auth(std::string_view argument);
    Action on_auth_response(std::string_view line);
    Action on_mail(std::string_view argument);
    Action on_rcpt(std::string_view argument);
    Action on_data(std::string_view argument);
    Action start_authentication();
    Action abandon_auth(Reply reply);  // back to commands, counted as an error
    Action on_unreadable_line(Reply reply);
    Action close(Reply reply);
    bool auth_offered() const;
    bool in_transaction() const { return state_ == State::mail || state_ == State::rcpt; }
};

}  // namespace smarthost::smtp
