#pragma once
// Writing webhook events (DESIGN.md "Events"): the event and one delivery per endpoint
// that wants it are inserted by the same statement as the change they report, so both
// commit or neither. Nothing is written unless an enabled endpoint — the account's own
// or a global one — asks for the event's kind: without webhooks the cost is one probe
// of an empty index per source row.
//
// How to add an event to a statement (the SQL is text from the calling code, never from
// a request):
//
//     WITH changed AS (UPDATE accounts SET ... RETURNING id, status),
//     <outbox_ctes("held", "SELECT 'account.held', c.id, jsonb_build_object('reason', $2)
//                             FROM changed c")>
//     SELECT ... FROM changed
//
// `source` is a SELECT of three columns — kind text (one of event_kinds()), account_id
// bigint, data jsonb — that may read earlier members of the same WITH; every row of it is
// one event. The members added are named <name>_source, <name>_event and
// <name>_deliveries; data-modifying members run to completion whether or not the main
// query reads them, so nothing else is needed. A data object whose text is larger than
// k_max_data_bytes is replaced with {"truncated": true}, so an event cannot grow a row
// without bound, and never fails the statement it rides in.
//
// Senders are woken with NOTIFY on k_webhook_channel when deliveries were inserted.
// For a transaction of several statements, outbox_statement(source) is one statement of
// its own (source may not then read other statements' CTEs, only tables and parameters).

#include <cstddef>
#include <string>
#include <string_view>

namespace smarthost::events {

inline constexpr std::string_view k_webhook_channel = "smarthost_webhooks";
inline constexpr std::size_t k_max_data_bytes = 16 * 1024;

// Members of a WITH list (without the leading or trailing comma).
std::string outbox_ctes(std::string_view name, std::string_view source);

// "WITH <outbox_ctes("outbox", source)> SELECT count(*) FROM outbox_event": the number
// of events written.
std::string outbox_statement(std::string_view source);

}  // namespace smarthost::events
