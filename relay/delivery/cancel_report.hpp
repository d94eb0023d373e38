#pragma once
// The delivery report for recipients an operator cancelled with bounces (a bulk cancel
// with "bounce": true, relay/queue/queue_jobs.hpp): one RFC 3464 report per message, from
// the null sender, under the message's account. Pure: the id and the time come in.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/delivery/dsn.hpp"
#include "relay/queue/new_message.hpp"

namespace smarthost::delivery {

struct CancelledRecipient {
    std::int64_t id = 0;  // recipients.id
    std::string address;
    std::string orcpt;   // RFC 3461 ORCPT as stored, empty if none
    std::string notify;  // RFC 3461 NOTIFY as stored, empty if absent
};

struct CancelledMessage {
    std::int64_t account_id = 0;
    std::string sender;  // envelope sender; null sender: no report
    std::string envid;
    smtp::DsnReturn ret = smtp::DsnReturn::unspecified;
    TimePoint received_at;
    // The stored message, or only its beginning (enough for its header section) when
    // the report cannot return it whole: `ret` is then not full.
    std::string content;
    std::vector<CancelledRecipient> recipients;
};

struct CancelReport {
    queue::NewMessage message;
    std::vector<std::int64_t> reported;  // the recipient ids it lists
};

// The reply a cancelled recipient's report quotes: our own, so no Remote-MTA.
inline constexpr const char* k_cancelled_reply =
    "550 5.0.0 Delivery cancelled by the relay operator";

// Nothing for a null-sender message or when no recipient's NOTIFY asks for failures.
std::optional<CancelReport> cancel_report(const DsnSettings& settings,
                                          const CancelledMessage& message, TimePoint now,
                                          queue::MessageId id);

}  // namespace smarthost::delivery
