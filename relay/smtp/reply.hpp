#pragma once
// SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463, RFC 2034).
// Every reply the server sends is built by a function in smarthost::smtp::reply so that
// codes and texts are defined in one place.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost::smtp {

struct Reply {
    int code = 250;
    std::string enhanced;            // "2.0.0"; empty where RFC 2034 does not use one (220, EHLO)
    std::vector<std::string> lines;  // one entry per reply line, without code or CRLF

    // The bytes on the wire: "250-first\r\n250 last\r\n", the enhanced code on every line.
    std::string wire() const;
    bool positive() const { return code < 400; }
    // One line, as the queue stores it and logs show it: "550 5.1.1 No such user", lines
    // joined with "; ". Code 0 (a local diagnosis, never on the wire) is left out.
    std::string summary() const;
    // The RFC 3463 status: the enhanced code, or for a 2xx, 4xx or 5xx reply without one
    // its class's X.0.0; empty otherwise.
    std::string status() const;
};

// The reply catalogue: every code, enhanced code and text the server uses.
namespace reply {

// Connection and session.
Reply greeting(std::string_view hostname);  // 220 <hostname> ESMTP smarthost
Reply ehlo(std::string_view hostname, std::string_view helo, std::vector<std::string> keywords);
Reply helo(std::string_view hostname);                     // 250 <hostname>
Reply ok();                                                // 250 2.0.0 Ok
Reply bye();                                               // 221 2.0.0 Bye
Reply help();                                              // 214 2.0.0
Reply cannot_verify();                                     // 252 2.5.0
Reply too_many_errors(std::string_view hostname);          // 421 4.7.0
Reply timeout(std::string_view hostname);                  // 421 4.4.2
Reply data_too_slow(std::string_view hostname);            // 421 4.4.2
Reply session_too_long(std::string_view hostname);         // 421 4.4.2
Reply too_many_junk_commands(std::string_view hostname);   // 421 4.4.2
Reply too_many_auth_failures(std::string_view hostname);   // 421 4.7.0
Reply shutting_down(std::string_view hostname);            // 421 4.3.2
Reply protocol_mismatch(std::string_view hostname);        // 421 4.7.0, an HTTP request
Reply unauth_pipelining(std::string_view hostname);        // 554 5.5.0, then close
Reply temporarily_unavailable(std::string_view hostname);  // 421 4.3.0, no database
Reply too_many_connections(std::string_view hostname);     // 421 4.7.0
// 421 4.7.0: the account has its limit of concurrent connections open already.
Reply account_connection_limit(std::string_view hostname, std::uint64_t limit);

// Command level errors.
Reply command_unrecognized();               // 500 5.5.2
Reply line_too_long();                      // 500 5.5.2
Reply bare_lf_in_command();                 // 500 5.5.2
Reply command_not_implemented();            // 502 5.5.1
Reply syntax_error(std::string_view text);  // 501 5.5.4
Reply bad_sequence(std::string_view text);  // 503 5.5.1

// STARTTLS (RFC 3207).
Reply ready_to_start_tls();  // 220 2.0.0

// AUTH (RFC 4954).
Reply auth_challenge(std::string_view base64_text);  // 334 <challenge>
Reply auth_succeeded();                              // 235 2.7.0
Reply auth_credentials_invalid();                    // 535 5.7.8
Reply auth_identity_not_permitted();                 // 535 5.7.8: PLAIN authzid of another
Reply auth_temporary_failure();                      // 454 4.7.0
Reply auth_cancelled();                              // 501 5.0.0
Reply auth_malformed(std::string_view text);         // 501 5.5.2
Reply auth_mechanism_unsupported();                  // 504 5.5.4
Reply encryption_required();                         // 538 5.7.11
Reply auth_required();                               // 530 5.7.0

// MAIL and RCPT.
Reply sender_ok();                                       // 250 2.1.0
Reply recipient_ok();                                    // 250 2.1.5
Reply bad_sender_address(std::string_view text);         // 501 5.1.7
Reply bad_recipient_address(std::string_view text);      // 501 5.1.3
Reply no_local_mailboxes();                              // 550 5.1.1
Reply parameter_unrecognized(std::string_view keyword);  // 555 5.5.4
Reply message_too_big();                                 // 552 5.3.4
Reply too_many_recipients();                             // 452 4.5.3

// DATA and queueing.
Reply start_data();                       // 354
Reply bare_lf_in_data();                  // 554 5.6.0
Reply bare_cr_in_data();                  // 554 5.6.0
Reply nul_in_data();                      // 554 5.6.0
Reply line_too_long_in_data();            // 554 5.6.0
Reply queued(std::string_view queue_id);  // 250 2.0.0
Reply not_queued();                       // 451 4.3.0
Reply not_signed();                       // 451 4.3.0: to be DKIM-signed, and could not be
Reply insufficient_storage();             // 452 4.3.1: the smtp role's body memory is used up
Reply content_rejected();  // 550 5.7.1: the content scan's score reached the reject threshold

// Account policy (relay/policy, docs/policy.md).
// 451 4.7.1: an account rate limit ("messages_per_hour", its value, when it resets).
Reply rate_limited(std::string_view limit, std::uint64_t value, std::string_view resets_at);
// 451 4.7.1: the same for a credential's or a sub-user's own limit; `whose` names it
// ("Credential alice", "Sub-user shop1").
Reply scoped_rate_limited(std::string_view whose, std::string_view limit, std::uint64_t value,
                          std::string_view resets_at);
// 451 4.7.1: `max` other sub-users of the account hold quota in this window of `limit`.
Reply too_many_sub_users(std::string_view account, std::uint64_t max, std::string_view limit,
                         std::string_view resets_at);
// 554 5.6.0: the account's trusted sub-user header occurs more than once, or its value is
// not a sub-user name (docs/policy.md "Sub-users").
Reply bad_sub_user_header(std::string_view header, std::string_view problem);
// 452 4.3.1: the sender's unit is held and as much of its mail waits as may.
Reply held_mail_full();
Reply policy_unavailable();                                                            // 451 4.3.0
Reply account_suspended(std::string_view account, std::string_view reason);            // 550 5.7.1
Reply account_unknown();                                                               // 550 5.7.1
Reply null_sender_not_permitted(std::string_view account);                             // 553 5.7.1
Reply no_sender_domains(std::string_view account);                                     // 553 5.7.1
Reply sender_domain_not_permitted(std::string_view domain, std::string_view account);  // 553 5.7.1
Reply recipient_suppressed(std::string_view address, std::string_view why);            // 550 5.1.1
// 550 5.7.1: an author field ("From", "Sender", "Resent-From", "Resent-Sender") names a
// domain the account may not send as.
Reply header_author_not_permitted(std::string_view field, std::string_view domain,
                                  std::string_view account);
// 550 5.7.1: an author field too long to be checked whole.
Reply author_field_too_long(std::string_view field, std::size_t limit);
Reply header_fields_invalid(std::string_view problem);  // 550 5.6.0
// 554 5.4.6 (RFC 3463 "routing loop detected"): more Received: fields than the limit.
Reply mail_loop(std::size_t received, std::size_t limit);

// DNS blocklists and authentication abuse (docs/policy.md). `code`/`enhanced` come from
// the zone's action: 554 5.7.1 (connect), 550 5.7.1 (MAIL) or 451 4.7.1.
Reply client_listed(int code, std::string_view enhanced, std::string_view ip, std::string_view zone,
                    std::string_view url);
Reply sender_domain_listed(int code, std::string_view enhanced, std::string_view domain,
                           std::string_view zone, std::string_view url);
Reply no_service(std::string_view ip);  // 503 5.7.1 after a 554 greeting, until QUIT
Reply client_locked_out(std::string_view hostname, std::string_view ip);  // 421 4.7.0
Reply credential_revoked(std::string_view hostname);                      // 421 4.7.0
Reply username_locked_out();                                              // 454 4.7.0

}  // namespace reply
}  // namespace smarthost::smtp
