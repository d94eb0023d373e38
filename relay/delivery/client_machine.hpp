#pragma once
// The client side of SMTP as pure protocol (no I/O): building MAIL and RCPT, dot-stuffing
// the body, and deciding what each reply means for each recipient. Reading the replies and
// the EHLO capabilities is relay/delivery/server_reply's job. relay/delivery/smtp_client
// drives both over a socket.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/delivery/server_reply.hpp"
#include "relay/queue/attempt_result.hpp"
#include "relay/smtp/envelope.hpp"
#include "relay/smtp/reply.hpp"

namespace smarthost::delivery {

// ---- the data section (RFC 5321 section 4.5.2) ------------------------------------------

// Dot-stuffs a body given in any number of chunks: a "." at the start of a line is
// doubled, line ends become CRLF (a bare LF or bare CR is made a CRLF, so a stray one can
// never form a premature "\r\n.\r\n"), and finish() closes the last line if the body did
// not end with CRLF and appends the terminating ".\r\n".
class DotStuffer {
  public:
    void feed(std::string_view chunk, std::string& out);
    void finish(std::string& out);

  private:
    bool at_line_start_ = true;
    bool after_cr_ = false;
};

// The whole body stuffed and terminated, in one string.
std::string dot_stuff(std::string_view body);

// ---- results ----------------------------------------------------------------------------

// A transaction's results are queue::AttemptResults, one per recipient in envelope order
// (message and recipient unset: the caller knows which claim they belong to).
using queue::AttemptResult;
using queue::Stage;
using queue::Verdict;
std::string_view stage_name(Stage stage);

// 2xx delivered, 5xx permanent, anything else temporary.
Verdict verdict_of(int reply_code);

// Facts about the message that decide the MAIL parameters and the refusals before
// sending.
struct MessageTraits {
    std::uint64_t size = 0;  // octets of the body before dot-stuffing (RFC 1870 SIZE=)
    bool eight_bit = false;  // an octet above 127 in the body, or BODY=8BITMIME declared
    bool needs_smtputf8 = false;
};

// needs_smtputf8: a non-ASCII envelope address, or SMTPUTF8 declared on submission and a
// non-ASCII header (the rule of Postfix's smtputf8_autodetect: declared but pure-ASCII mail
// goes to any server).
MessageTraits message_traits(const smtp::Envelope& envelope, std::string_view body);

// xtext encoding (RFC 3461 section 4) for ENVID.
std::string encode_xtext(std::string_view text);

// One mail transaction from the client's side: the commands to send and what the replies
// mean for each recipient. The caller sends MAIL, the RCPTs and DATA (pipelined or not),
// feeds the replies in order, and asks results() at the end.
class ClientTransaction {
  public:
    ClientTransaction(const Capabilities& capabilities, const smtp::Envelope& envelope,
                      const MessageTraits& traits);

    // Decided before anything is sent (5.6.7 SMTPUTF8 unsupported, 5.3.4 over SIZE): every
    // recipient already has its result and nothing is to be sent.
    bool refused_before_sending() const { return refused_before_sending_; }
    // RFC 6152 leaves two choices for 8-bit mail to a server without 8BITMIME: convert or
    // bounce. Like Postfix's default we send it unchanged (most servers take it); this
    // records that we did, for the events log.
    bool eight_bit_without_8bitmime() const { return eight_bit_without_8bitmime_; }

    std::string mail_command() const;  // "MAIL FROM:<a@b> SIZE=123 BODY=8BITMIME\r\n"
    std::string rcpt_command(std::size_t index) const;
    std::size_t recipient_count() const { return results_.size(); }

    void on_mail_reply(const smtp::Reply& reply);
    void on_rcpt_reply(std::size_t index, const smtp::Reply& reply);
    bool mail_accepted() const { return mail_accepted_; }
    std::size_t accepted_recipients() const;
    // Send the body only with an accepted MAIL and at least one accepted RCPT.
    bool should_send_body() const { return mail_accepted_ && accepted_recipients() > 0; }
    void on_data_reply(const smtp::Reply& reply);   // the 354 (or a refusal)
    void on_final_reply(const smtp::Reply& reply);  // after "."
    // The conversation broke off at `stage` (connection lost, timeout, malformed reply):
    // every recipient not yet decided gets a temporary failure with this made-up reply.
    void on_connection_failed(Stage stage, const smtp::Reply& local_reply);

    const std::vector<AttemptResult>& results() const { return results_; }

  private:
    std::string build_mail_command() const;
    void decide(std::size_t index, Verdict verdict, Stage stage, const smtp::Reply& reply,
                bool remote);
    void fail_pending(Stage stage, const smtp::Reply& reply, bool remote);

    Capabilities capabilities_;
    const smtp::Envelope& envelope_;  // outlives the transaction
    MessageTraits traits_;
    std::vector<AttemptResult> results_;
    std::vector<bool> decided_;   // a final result is known for the recipient
    std::vector<bool> accepted_;  // RCPT got 2xx, the body's reply decides
    bool mail_accepted_ = false;
    bool refused_before_sending_ = false;
    bool eight_bit_without_8bitmime_ = false;
};

// Replies made up by the client, so codes and texts live in one place.
namespace local_reply {
smtp::Reply smtputf8_unsupported();                                    // 550 5.6.7
smtp::Reply message_too_big(std::uint64_t size, std::uint64_t limit);  // 552 5.3.4
smtp::Reply connection_lost(Stage stage);                              // 451 4.4.2
smtp::Reply timed_out(Stage stage);                                    // 451 4.4.2
smtp::Reply malformed_reply();                                         // 451 4.5.0
smtp::Reply connect_failed(std::string_view detail);                   // 451 4.4.1
smtp::Reply tls_failed(std::string_view detail);                       // 451 4.7.5
smtp::Reply tls_not_offered();                                         // 451 4.7.4
// RFC 7672 section 2.2: TLSA records make TLS mandatory; "DANE" names why, for the events.
smtp::Reply dane_tls_not_offered();                             // 451 4.7.5
smtp::Reply dane_starttls_refused(const smtp::Reply& refusal);  // 451 4.7.5
smtp::Reply dane_tls_failed(std::string_view detail);           // 451 4.7.5
smtp::Reply auth_needs_tls();              // 454 4.7.0 (our setup, not the mail)
smtp::Reply auth_needs_verified_tls();     // 454 4.7.0 (our setup, not the mail)
smtp::Reply auth_mechanism_unavailable();  // 451 4.7.12 (no common mechanism)
}  // namespace local_reply

}  // namespace smarthost::delivery
