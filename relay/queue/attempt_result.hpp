#pragma once
// The one value a delivery attempt produces for a recipient, from the SMTP client to the
// queue: the reply (parsed, as the server sent it or as we made it up), who said it, and
// what it means. Settling it (claims.hpp: queue::settle, Claims::record) turns it into
// the recipient's next state. Pure values, header only: the SMTP client uses them
// without linking the queue.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "relay/smtp/reply.hpp"

namespace smarthost::queue {

struct ClaimedMessage;
struct ClaimedRecipient;

// What an attempt means for a recipient. Mostly the reply's class, but delivery may
// decide otherwise: an upstream relay's 5xx is our setup problem, so temporary.
enum class Verdict { delivered, temporary, permanent };

// Where in the SMTP conversation a result was decided; local when no server said it.
enum class Stage { connect, greeting, ehlo, starttls, auth, mail, rcpt, data, data_end, local };

// Who the attempt talked to, for the events log and the DSN's Remote-MTA.
struct Peer {
    std::string host;         // the name we connected to (MX host); empty when none
    std::string ip;           // empty when no connection was made
    std::string tls_version;  // "TLSv1.3"; empty without TLS
    // The server offered DSN (RFC 3461): NOTIFY went on with the recipient, and success is
    // the next hop's to report.
    bool dsn = false;
};

struct AttemptResult {
    // Set by delivery; the claim they point into outlives the result. Null in the SMTP
    // client's results, which follow the envelope's order.
    const ClaimedMessage* message = nullptr;
    const ClaimedRecipient* recipient = nullptr;
    Verdict verdict = Verdict::temporary;
    // The server's reply, or our own: a made-up SMTP reply ("451 4.4.2 connection lost"),
    // or with code 0 a diagnosis that has no SMTP code ("5.1.10 null MX ...").
    smtp::Reply reply{0, {}, {}};
    bool remote = false;  // the server sent the reply (a DSN's Diagnostic-Code is "smtp;")
    Stage stage = Stage::local;
    Peer peer;
    // Set when the recipient was not attempted at all (destination shaping held it back):
    // it goes back to the queue due then, its attempt not counted, nothing else recorded
    // (Claims::postpone). Verdict and reply are then meaningless.
    std::optional<std::chrono::system_clock::time_point> not_attempted_until;
};

// The state settling left a recipient in; lease_lost when another worker had taken it
// over, so nothing was written.
enum class RecipientState { delivered, deferred, bounced, expired, lease_lost };
// The recipients.state value ("delivered", ...), and "lease_lost" for logs.
const char* state_name(RecipientState state);

// A recipient's line in a delivery report that waits for its message's other domain
// batches (relay/delivery/pending_reports.hpp), stored with the settlement.
struct PendingReportLine {
    std::string action;      // RFC 3464 Action: "failed", "delayed" or "relayed"
    std::string status;      // RFC 3463 "5.1.1"
    std::string remote_mta;  // the server that said it; empty for our own diagnosis
    std::string diagnostic;  // its reply, or empty
};

// What Claims::record writes for an attempt result while its lease holds.
struct Settlement {
    RecipientState state = RecipientState::deferred;                       // never lease_lost
    std::optional<std::chrono::system_clock::time_point> next_attempt_at;  // when deferred
    // Deferred long enough for a delay warning (NOTIFY=DELAY), and none sent yet; retries
    // go on until `retry_until` (the queue lifetime's end: the DSN's Will-Retry-Until).
    bool warn_delay = false;
    std::chrono::system_clock::time_point retry_until;
    std::optional<PendingReportLine> pending_report;
};

}  // namespace smarthost::queue
