#include "relay/events/outbox.hpp"

#include <fmt/format.h>

namespace smarthost::events {

std::string outbox_ctes(std::string_view name, std::string_view source) {
    // The endpoints that want an event: enabled, asking for its kind, the account's own
    // or global. Evaluated twice (the EXISTS that decides whether there is an event at
    // all, the join that fans it out) within one statement, hence on one snapshot.
    constexpr std::string_view wants =
        "w.enabled AND {0}.kind = ANY (w.event_types) "
        "AND (w.account_id IS NULL OR w.account_id = {0}.account_id)";
    const std::string source_wants = fmt::format(fmt::runtime(wants), "s");
    const std::string event_wants = fmt::format(fmt::runtime(wants), "e");
    return fmt::format(
        R"sql({0}_source AS (
    SELECT gen_random_uuid() AS event_id, s.kind, s.account_id, a.name AS account_name,
           CASE WHEN octet_length(s.data::text) <= {3} THEN s.data
                ELSE jsonb_build_object('truncated', true) END AS data
    FROM ({1}) AS s (kind, account_id, data)
    LEFT JOIN accounts a ON a.id = s.account_id
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints w WHERE {2})
), {0}_event AS (
    INSERT INTO webhook_events (id, kind, account_id, payload)
    SELECT event_id, kind, account_id,
           jsonb_build_object(
               'id', event_id, 'type', kind,
               'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'account', CASE WHEN account_id IS NULL THEN NULL
                               ELSE jsonb_build_object('id', account_id, 'name', account_name) END,
               'data', data)
    FROM {0}_source
    RETURNING id, seq, kind, account_id
), {0}_deliveries AS (
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, order_key)
    SELECT w.id, e.id, e.seq, coalesce(e.account_id, 0)
    FROM {0}_event e JOIN webhook_endpoints w ON {4}
    RETURNING pg_notify('{5}', '')
))sql",
        name, source, source_wants, k_max_data_bytes, event_wants, k_webhook_channel);
}

std::string outbox_statement(std::string_view source) {
    return "WITH " + outbox_ctes("outbox", source) + " SELECT count(*) FROM outbox_event";
}

}  // namespace smarthost::events
