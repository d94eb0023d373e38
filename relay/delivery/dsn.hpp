#pragma once
// Delivery status notifications (RFC 3464) for the original envelope sender: one
// multipart/report per message and attempt, listing every recipient it reports on.
// Pure: the time and a unique token come in from the caller; the result is queued like
// any other message, from the null sender.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/envelope.hpp"

namespace smarthost::delivery {

using TimePoint = std::chrono::system_clock::time_point;

// relayed (RFC 3461 4.1): handed to a next hop that does not offer DSN, so no report of
// its delivery will follow.
enum class DsnAction { failed, delayed, delivered, relayed };

// The RFC 3464 Action value ("failed", ...), and back; nothing for another name.
const char* action_name(DsnAction action);
std::optional<DsnAction> action_named(std::string_view name);

struct DsnRecipient {
    std::string address;  // the envelope recipient: Final-Recipient
    std::string orcpt;    // RFC 3461 ORCPT as given ("rfc822;a@example.org"), empty if none
    std::string notify;   // RFC 3461 NOTIFY as given, empty if absent
    DsnAction action = DsnAction::failed;
    std::string status;      // RFC 3463 "5.1.1"; empty: taken from the diagnostic
    std::string remote_mta;  // host name of the server that answered, empty if none
    std::string diagnostic;  // that server's reply ("550 5.1.1 no such user"), or empty
    TimePoint last_attempt;
    std::optional<TimePoint> will_retry_until;  // for delayed
};

struct DsnOriginal {
    std::string sender;  // envelope sender; "" (null sender) never gets a DSN
    std::string envid;   // RFC 3461 ENVID, empty if none
    smtp::DsnReturn ret = smtp::DsnReturn::unspecified;
    TimePoint received_at;
    std::string_view content;  // the message as stored: header, blank line, body
};

struct DsnSettings {
    std::string reporting_host;  // our host name: Reporting-MTA, From, Message-ID
    // RET=FULL returns only the headers of a message larger than this.
    std::size_t full_content_limit = 10 * 1024 * 1024;
};

struct Dsn {
    smtp::Envelope envelope;            // from <>, to the original sender; body type, SMTPUTF8 set
    std::string content;                // the DSN message: CRLF line ends, no line over 998 octets
    std::string message_id;             // "<token@host>"
    std::vector<std::string> reported;  // the recipients it lists, in order
};

// Whether a recipient's NOTIFY asks for a report of `action` (RFC 3461 4.1): NEVER asks
// for none; absent NOTIFY means FAILURE,DELAY; otherwise the listed conditions only.
bool notify_requests(std::string_view notify, DsnAction action);

// The RFC 3463 enhanced status code of an SMTP reply ("550 5.1.1 ..." → "5.1.1"), or the
// class alone from the basic code ("550 ..." → "5.0.0"); empty when there is none.
std::string status_of_reply(std::string_view reply);

// The DSN for `recipients` (those whose NOTIFY asks for their action), or nothing when
// the sender is null or no recipient asks for a report. `unique_token` (letters, digits,
// '.', '-') makes the Message-ID and MIME boundary unique; a new queue id will do.
std::optional<Dsn> build_dsn(const DsnSettings& settings, const DsnOriginal& original,
                             const std::vector<DsnRecipient>& recipients, TimePoint now,
                             std::string_view unique_token);

}  // namespace smarthost::delivery
