#pragma once
// A message about to be stored: what the session (or the delivery role, for a report)
// hands to group commit. Plain data and its id, so the pure code that builds one (the
// DSN builder) needs neither Asio nor libpq.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/smtp/envelope.hpp"

namespace smarthost::queue {

// 32 lower-case hex digits of a UUID version 7: time-ordered, so newer ids sort later.
using MessageId = std::string;

struct NewMessage {
    MessageId id;  // new_message_id()
    std::int64_t account_id = 0;
    std::optional<std::int64_t> credential_id;
    std::string client_ip;
    std::string client_helo;
    std::string tls_version;  // empty without TLS
    smtp::Envelope envelope;
    std::string body;               // the stored message, Received: header included
    std::string header_message_id;  // Message-ID: value if the message has one
    std::string sub_user;           // named by the account's trusted header; empty: none
    // The content scan's result (docs/scanning.md), stored with the message; none when
    // the message was not scanned.
    struct ScanRecord {
        double score = 0;
        std::string action;        // messages.scan_action: accept, add_header, hold
        std::string symbols_json;  // {"NAME": score, ...}, bounded by the scanner
    };
    std::optional<ScanRecord> scan;
    // Stored with every recipient 'held' (claims skip them) and a 'held' event whose reply
    // is held_reason, until an operator releases or cancels the message.
    bool held_for_review = false;
    std::string held_reason;
    // Stored in the same transaction, so neither exists without the other: the delivery
    // reports for recipients bounced at submission (suppressed addresses in bounce mode).
    std::vector<NewMessage> reports;
};

// A new time-ordered message id (RFC 9562 UUID version 7).
MessageId new_message_id();

}  // namespace smarthost::queue
