#pragma once
// The SMTP server session as a state machine (RFC 5321, 3207, 4954, 1870, 6152, 6531,
// 3461, 2920, 2034). It turns command lines and the outcomes of I/O work into replies
// and actions; it never touches a socket, a clock or the database.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/smtp/address.hpp"
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
    // The I/O layer answers check_policy actions (relay/policy). Off: the machine decides
    // alone, which is all a test of protocol behaviour needs.
    bool policy_checks = false;
    std::uint64_t max_message_bytes = 26214400;
    std::size_t max_recipients = 100;
    std::size_t max_errors = 10;  // then 421 and close
    // Failed AUTH attempts on one connection (535), the last one answered 421 and closed;
    // 0: no cap. Guessing then costs a new connection each time, which the per-network
    // lockouts and connection limits see.
    std::size_t max_auth_failures = 0;
    // NOOP, RSET, VRFY and HELP since the session's last queued message, past which the
    // session is closed with 421 (a client holding a slot without sending); 0: no cap.
    std::size_t max_junk_commands = 0;
    AddressLimits address_limits;  // at MAIL (501 5.1.7) and RCPT (501 5.1.3)
};

struct AuthRequest {
    std::string mechanism;  // "PLAIN" or "LOGIN"
    std::string authzid;    // PLAIN authorization identity, empty if none
    std::string username;
    std::string password;
};

enum class AuthOutcome { success, invalid_credentials, temporary_failure };

// What a policy check is asked to judge: the sender at MAIL, one recipient at RCPT, or
// the whole message (its header section) once the data section has ended. Only sessions
// with an identity (authenticated or allow-listed) are asked about.
enum class PolicyStage { sender, recipient, message };

struct PolicyQuery {
    PolicyStage stage = PolicyStage::sender;
    std::string address;         // sender ("" = null sender) or recipient; empty for message
    std::size_t recipients = 0;  // accepted so far in this transaction
    std::optional<std::uint64_t> declared_size;  // MAIL's SIZE=, if given
};

// Why a policy check refused, named where the check decides and carried as data to the
// `rejections` rows and the counters: nothing downstream reads a reply's code or text.
enum class Refusal : std::uint8_t {
    none,
    unavailable,  // the database could not answer (451 4.3.0): not the customer's doing
    account_suspended,
    sender_domain,
    message_size,
    rate_limit,
    recipients_per_message,
    suppressed,
    from_header,
    from_domain,
    mail_loop,
    dnsbl,             // the client's listing, at MAIL
    domain_blocklist,  // the sender domain's listing
    sub_user_header,   // the trusted sub-user header repeated or not a sub-user name
    content_scan,      // the message's spam score reached the reject threshold (at the dot)
    held_mail_full,    // its unit is held and has [abuse] max_held_recipients waiting
};

// "account_suspended", "rate_limit", ...; empty for none and unavailable.
std::string_view refusal_name(Refusal reason);

// The answer to a policy check: carry on with the command, or refuse it with `refusal`
// (any reply, permanent or temporary, sent exactly as given) for `reason`. For a recipient
// there is a third answer: accept it (250) but bounce it at once with `bounce` as its reply.
struct PolicyVerdict {
    std::optional<Reply> refusal;
    std::optional<Reply> bounce;
    Refusal reason = Refusal::none;
    std::string limit;  // for Refusal::rate_limit: which one ("messages_per_hour")

    static PolicyVerdict proceed() { return {}; }
    static PolicyVerdict refuse(Reply reply, Refusal reason, std::string limit = {}) {
        return PolicyVerdict{std::move(reply), {}, reason, std::move(limit)};
    }
    static PolicyVerdict accept_and_bounce(Reply reply) {
        return PolicyVerdict{{}, std::move(reply), Refusal::none, {}};
    }
    bool refused() const { return refusal.has_value(); }
    // The reason of the account's `rejections` row ("rate_limit:messages_per_hour",
    // "suppressed", ...); empty when the refusal is not recorded (none, unavailable).
    std::string rejection_row() const;
};

struct Action {
    enum class Kind {
        reply,      // send `reply`, read the next command
        start_tls,  // send `reply` (220), discard buffered input, handshake, then on_tls_started()
        authenticate,  // verify `auth`, then on_auth_result()
        check_policy,  // judge `policy` (envelope() holds the transaction so far), then
                       // on_policy_verdict(); nothing is read from the client meanwhile
        receive_data,  // send `reply` (354), read the data section, then on_data_end()
        enqueue,       // commit envelope() and the body durably, then on_enqueued()
        close,         // send `reply` (221 or 421) and close the connection
    };
    Kind kind = Kind::reply;
    Reply reply;
    AuthRequest auth;    // for authenticate
    PolicyQuery policy;  // for check_policy
    // For a close that one of the session's caps forced ("auth_failures",
    // "junk_commands"): the reason the I/O layer counts it under. Empty otherwise.
    std::string_view cap_reached;
    // For the reply to a refused policy check: why (the counters' reason).
    Refusal refusal = Refusal::none;

    static Action send(Reply reply) { return Action{Kind::reply, std::move(reply), {}, {}, {}}; }
};

class SessionMachine {
  public:
    explicit SessionMachine(SessionSettings settings);

    Reply greeting() const;  // 220 <hostname> ESMTP

    // RFC 5321 section 3.1: the client was refused at connect (a DNSBL listing) and is
    // greeted with `greeting` (554), which is returned for sending. From then on QUIT gets
    // 221, every other line `each_command` (503), and max_errors lines a 421 and the close.
    Reply refuse_service(Reply greeting, Reply each_command);
    bool refusing() const { return state_ == State::refused; }

    // One command line (or AUTH continuation line) without its CRLF.
    Action on_line(std::string_view line);
    // The line reader reported an overlong line (500 5.5.2) or a bare LF (500 5.5.2).
    Action on_line_too_long();
    Action on_bare_lf();

    // TLS is up after STARTTLS: the session is reset and EHLO is required again.
    void on_tls_started();
    Action on_auth_result(AuthOutcome outcome);
    // The credentials were right, but the session may not go on as that account (its
    // connection limit): `reply` (a 421) is sent and the connection closed.
    Action on_auth_refused(Reply reply);
    // The username is locked out from this client's network: `reply` (454), the session
    // goes on, and it is not counted as a failed attempt.
    Action on_auth_locked(Reply reply);
    // The verdict on the last check_policy action. Replies go out in command order
    // (PIPELINING, RFC 2920) because the I/O layer reads no command while it checks.
    Action on_policy_verdict(const PolicyVerdict& verdict);
    // The data section ended (CRLF.CRLF seen). On ok: an enqueue action. Otherwise the
    // 5xx reply for the problem, and the transaction is reset.
    Action on_data_end(DataResult result);
    // The message was committed (queue_id non-empty) or could not be (451 4.3.0).
    Action on_enqueued(std::string_view queue_id);
    // The message was not queued for a reason the reply tells (451 4.3.0 when it could not
    // be DKIM-signed); the transaction ends as after a failed commit.
    Action on_not_queued(Reply reply);
    // Whether `line`, with more input already behind it, breaks RFC 2920 for a client that
    // is neither authenticated nor allow-listed: a command sent before the reply to EHLO
    // or HELO, when the client cannot yet know PIPELINING is offered. Spambots fire their
    // whole conversation at once (Postfix's smtpd_forbid_unauth_pipelining); the I/O
    // layer answers reply::unauth_pipelining and closes.
    bool pipelining_forbidden(std::string_view line, bool more_input_follows) const;

    // The client was silent past the timeout (421 4.4.2) or the server is shutting down.
    Action on_timeout();
    Action on_shutdown();

    const Envelope& envelope() const { return envelope_; }
    // Waiting for the next command of a mail transaction (after MAIL, before DATA).
    bool in_transaction() const { return state_ == State::mail || state_ == State::rcpt; }
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
        auth_pending,       // waiting for on_auth_result
        sender_pending,     // MAIL waiting for its policy verdict
        recipient_pending,  // RCPT waiting for its policy verdict
        data,               // receiving the data section
        message_pending,    // the data section waiting for its policy verdict
        enqueue_pending,
        tls_pending,
        refused,  // greeted with 554: nothing but QUIT is served
        closed,
    };

    SessionSettings settings_;
    State state_ = State::greeted;
    bool esmtp_ = false;
    bool tls_active_ = false;
    bool authenticated_ = false;
    std::size_t errors_ = 0;
    std::size_t auth_failures_ = 0;
    std::size_t junk_commands_ = 0;
    std::string helo_;
    std::string auth_username_;
    AuthRequest pending_auth_;
    Envelope envelope_;
    Recipient pending_recipient_;  // in recipient_pending
    Reply refusal_;                // in refused: the answer to every command but QUIT

    // Implementation helpers are private member functions defined in the .cpp.
    Action error(Reply reply);        // counts the error; closes past max_errors
    Action auth_failed(Reply reply);  // counts the failure; closes at max_auth_failures
    bool junk_command();              // counts one; true when past max_junk_commands
    Action junk_limit_reached();
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
    Action on_refused_line(std::string_view line);
    Action close(Reply reply);
    bool auth_offered() const;
    Action accept_sender();
    Action accept_recipient();
    Action ask_policy(State waiting, PolicyStage stage, std::string address);
    bool identified() const { return authenticated_ || settings_.client_allowlisted; }
};

}  // namespace smarthost::smtp
