#pragma once
// An operator's action on the recipients of one message (the admin API's retry, hold,
// release and cancel): the states it starts from, what it sets, the event it records and
// whether delivery must be woken. In-flight recipients are never touched: their attempt
// is under way, and its outcome is recorded by the worker that holds the lease.

#include <string>
#include <string_view>

namespace smarthost::queue {

enum class RecipientAction { retry, hold, release, cancel };

// "retry", "hold", "release", "cancel".
std::string_view action_name(RecipientAction action);

// The states the action changes, as a phrase for a reply: "queued or deferred".
std::string from_states_phrase(RecipientAction action);

// Retry and release make recipients due now: their transaction also runs
// notify_queue_statement() (relay/queue/notify.hpp).
bool wakes_delivery(RecipientAction action);

// The data-modifying CTEs of `action` on the recipients of message $<message_param> (a
// uuid), for a statement "WITH <these>, <the caller's CTEs> SELECT ...":
//   message   — the message's id; no row when there is no such message,
//   changed   — the recipients changed: id, message_id, address and their new state,
//   in_flight — count: the message's recipients in flight, left alone;
// and an event per changed recipient when the action records one. One statement, so
// what the caller writes about the change (an audit row over `changed`) commits with it.
std::string recipient_action_ctes(RecipientAction action, int message_param);

}  // namespace smarthost::queue
