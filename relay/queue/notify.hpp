#pragma once
// The channel that wakes the delivery schedulers (relay/delivery/queue_listener LISTENs
// on it). Whatever makes recipients due (group commit, delivery reports, the operator's
// retry and release) sends the notification inside its own transaction, so it arrives
// when, and only if, the change commits.

#include <string_view>

namespace smarthost::pg {
struct Statement;
}

namespace smarthost::queue {

inline constexpr std::string_view k_queue_channel = "smarthost_queue";

// pg_notify on k_queue_channel, to run in the transaction that made recipients due.
pg::Statement notify_queue_statement();

}  // namespace smarthost::queue
