#pragma once
// The delivery status notification for recipients that policy accepted only to bounce
// them at once (smtp::Envelope::bounced, e.g. suppressed addresses in "bounce" mode):
// one RFC 3464 report to the envelope sender, queued from the null sender under the same
// account, like the delivery role's bounces. Pure: no I/O.

#include <chrono>
#include <optional>
#include <string>

#include "relay/queue/new_message.hpp"

namespace smarthost::ingress {

// Nothing when no recipient was bounced, the sender is null (RFC 3461 section 6.2) or
// no bounced recipient's NOTIFY asks for failure reports.
std::optional<queue::NewMessage> bounce_report(const queue::NewMessage& original,
                                               const std::string& reporting_host,
                                               std::chrono::system_clock::time_point now);

}  // namespace smarthost::ingress
