#include "admin-api/messages.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/pagination.hpp"
#include "admin-api/time_range.hpp"
#include "core/ascii.hpp"
#include "core/pg/pool.hpp"
#include "relay/queue/notify.hpp"
#include "relay/queue/queue_actions.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

constexpr std::array<std::string_view, 8> k_states{"queued",  "in_flight", "deferred", "delivered",
                                                   "bounced", "expired",   "held",     "cancelled"};
constexpr std::size_t k_filter_max = 998;  // an SMTP line (RFC 5321 section 4.5.3.1.6)

// Newest first: ids are time-ordered (queue::new_message_id), so they are the keyset.
constexpr std::string_view k_search = R"sql(
SELECT json_build_object(
           'id', replace(m.id::text, '-', ''), 'account_id', m.account_id,
           'sender', m.envelope_sender, 'client_ip', host(m.client_ip),
           'size_bytes', m.size_bytes, 'header_message_id', m.header_message_id,
           'received_at', m.received_at,
           'recipients', (SELECT json_object_agg(s.state, s.count)
                            FROM (SELECT state, count(*) FROM recipients
                                   WHERE message_id = m.id GROUP BY state) s)),
       replace(m.id::text, '-', '')
  FROM messages m
 WHERE ($1::bigint IS NULL OR m.account_id = $1)
   AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM recipients r
                                     WHERE r.message_id = m.id AND r.state = $2))
   AND ($3::text IS NULL OR lower(m.envelope_sender) = lower($3))
   AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM recipients r
                                     WHERE r.message_id = m.id AND lower(r.address) = lower($4)))
   AND ($5::timestamptz IS NULL OR m.received_at >= $5)
   AND ($6::timestamptz IS NULL OR m.received_at < $6)
   AND ($7::text IS NULL
        OR m.header_message_id IN ($7, btrim($7, '<>'), '<' || btrim($7, '<>') || '>'))
   AND ($8::uuid IS NULL OR m.id < $8)
 ORDER BY m.id DESC
 LIMIT $9)sql";

constexpr std::string_view k_tracking_view = R"sql(
SELECT json_build_object(
    'id', replace(m.id::text, '-', ''), 'account_id', m.account_id,
    'credential_id', m.credential_id, 'sub_user', m.sub_user, 'sender', m.envelope_sender,
    'client_ip', host(m.client_ip), 'client_helo', m.client_helo, 'tls_version', m.tls_version,
    'size_bytes', m.size_bytes, 'header_message_id', m.header_message_id,
    'dsn_ret', m.dsn_ret, 'dsn_envid', m.dsn_envid, 'received_at', m.received_at,
    'body_stored', m.body IS NOT NULL,
    'scan', CASE WHEN m.scan_action IS NULL THEN NULL
                 ELSE json_build_object('score', m.scan_score, 'action', m.scan_action,
                                        'symbols', m.scan_symbols) END,
    'recipients', coalesce((
        SELECT json_agg(json_build_object(
                   'id', r.id, 'address', r.address, 'domain', r.domain, 'state', r.state,
                   'attempts', r.attempts, 'next_attempt_at', r.next_attempt_at,
                   'last_reply', r.last_reply, 'updated_at', r.updated_at) ORDER BY r.id)
          FROM recipients r WHERE r.message_id = m.id), '[]'),
    'events', coalesce((
        SELECT json_agg(json_build_object(
                   'id', e.id, 'recipient_id', e.recipient_id, 'kind', e.kind,
                   'remote_host', e.remote_host, 'remote_ip', host(e.remote_ip),
                   'tls_version', e.tls_version, 'reply', e.reply, 'category', e.category,
                   'created_at', e.created_at) ORDER BY e.id)
          FROM events e WHERE e.message_id = m.id), '[]'))
  FROM messages m
 WHERE m.id = $1::uuid)sql";

// An operator action on the recipients of message $5 (relay/queue/queue_actions.hpp),
// with one audit row for the whole action and a summary, in one statement. $1..$4 are
// the audit row's, $6 the id as shown, $7 the action's name. No row: no such message.
std::string action_sql(queue::RecipientAction action) {
    return "WITH " + queue::recipient_action_ctes(action, 5) + R"sql(, audit AS (
    INSERT INTO audit_log (token_name, method, path, status, detail)
    SELECT $1::text, $2::text, $3::text, $4::int,
           jsonb_build_object('message_id', $6::text, 'action', $7::text,
                              'recipients', jsonb_agg(t.id ORDER BY t.id))
      FROM changed t HAVING count(*) > 0
)
SELECT json_build_object(
           'id', $6::text, 'action', $7::text,
           'changed', coalesce((SELECT json_agg(json_build_object(
                                    'id', t.id, 'address', t.address, 'state', t.state)
                                    ORDER BY t.id) FROM changed t), '[]'),
           'in_flight', in_flight.count),
       (SELECT count(*) FROM changed), in_flight.count
  FROM message, in_flight)sql";
}

// Built outside the coroutine (g++ 12 and braced lists of non-trivial types).
std::vector<pg::Statement> action_statements(const RequestContext& context,
                                             queue::RecipientAction action, const std::string& id) {
    auto params = audit_params(context, 200);
    for (auto& param : params_of(id, id, std::string(queue::action_name(action))))
        params.push_back(std::move(param));
    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{action_sql(action), std::move(params)});
    if (queue::wakes_delivery(action)) statements.push_back(queue::notify_queue_statement());
    return statements;
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

asio::awaitable<Response> run_action(RequestContext& context, queue::RecipientAction action) {
    const auto id = parse_message_id(context.param("id"));
    if (!id) co_return problem::not_found("no such message");
    auto body = parse_object(context.request, k_no_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);

    auto results = co_await context.pool.transaction(action_statements(context, action, *id));
    if (!results) co_return problem::from_database(results.error());
    const auto& rows = results->front();
    if (rows.empty()) co_return problem::not_found("no such message");
    if (rows.get_int(0, 1) == 0) {
        std::string detail = "no recipient of this message is " +
                             queue::from_states_phrase(action) + ", so none was changed";
        if (const auto in_flight = rows.get_int(0, 2); in_flight > 0)
            detail += "; " + std::to_string(in_flight) +
                      " in flight (an attempt is under way; act again when it has finished)";
        co_return problem::conflict(std::move(detail));
    }
    co_return json_response(200, std::string(rows.get(0, 0)));
}

struct SearchFilters {
    Page page;
    std::optional<std::string> cursor;  // a message id
    std::optional<std::int64_t> account;
    std::optional<std::string> state, sender, recipient, message_id;
    TimeRange range;
};

// Plain function, not in the coroutine: g++ 12 miscompiles braced lists in coroutines.
SearchFilters read_filters(QueryParams query, std::vector<FieldError>& errors) {
    SearchFilters filters;
    // The cursor of this list is a message id, not a number: read it here.
    if (auto text = query_value(query, "cursor")) {
        filters.cursor = parse_message_id(*text);
        if (!filters.cursor)
            errors.push_back({"cursor", "must be a next_cursor value from a previous page"});
        std::erase_if(query, [](const auto& param) { return param.first == "cursor"; });
    }
    filters.page = read_page(query, errors);
    if (auto text = query_value(query, "account")) {
        filters.account = parse_id(*text);
        if (!filters.account) errors.push_back({"account", "must be an account id"});
    }
    filters.state = query_value(query, "state");
    if (filters.state &&
        std::find(k_states.begin(), k_states.end(), *filters.state) == k_states.end())
        errors.push_back({"state",
                          "must be one of queued, in_flight, deferred, delivered, "
                          "bounced, expired, held, cancelled"});
    filters.sender = query_value(query, "sender");
    filters.recipient = query_value(query, "recipient");
    filters.message_id = query_value(query, "message_id");
    for (const auto& [name, value] : {std::pair{"sender", &filters.sender},
                                      {"recipient", &filters.recipient},
                                      {"message_id", &filters.message_id}})
        if (*value &&
            ((*value)->size() > k_filter_max || (*value)->find('\0') != std::string::npos))
            errors.push_back({name, "must be at most 998 characters, without NUL"});
    filters.range = read_time_range(query, false, errors);
    return filters;
}

asio::awaitable<Response> search_messages(RequestContext& context) {
    std::vector<FieldError> errors;
    const auto filters = read_filters(parse_query(context.request.query), errors);
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(std::string(k_search), filters.account, filters.state,
                                            filters.sender, filters.recipient, filters.range.from,
                                            filters.range.to, filters.message_id, filters.cursor,
                                            filters.page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, filters.page.limit);
}

asio::awaitable<Response> get_message(RequestContext& context) {
    const auto id = parse_message_id(context.param("id"));
    if (!id) co_return problem::not_found("no such message");
    auto rows = co_await context.pool.query(std::string(k_tracking_view), *id);
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such message");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

Handler action_route(queue::RecipientAction action) {
    return [action](RequestContext& context) { return run_action(context, action); };
}

}  // namespace

std::optional<std::string> parse_message_id(std::string_view text) {
    std::string hex;
    // 8-4-4-4-12 (RFC 9562 section 4) or the 32 digits alone.
    constexpr std::array<std::size_t, 4> dashes{8, 13, 18, 23};
    if (text.size() == 36) {
        for (std::size_t i = 0; i < text.size(); ++i) {
            const bool dash_here = std::find(dashes.begin(), dashes.end(), i) != dashes.end();
            if (dash_here != (text[i] == '-')) return std::nullopt;
            if (!dash_here) hex.push_back(text[i]);
        }
    } else if (text.size() == 32) {
        hex = std::string(text);
    } else {
        return std::nullopt;
    }
    for (auto& c : hex) {
        if (!is_hex(c)) return std::nullopt;
        c = ascii_lower(c);
    }
    return hex;
}

void add_message_routes(Router& router) {
    router.add("GET", "/api/v1/messages", search_messages);
    router.add("GET", "/api/v1/messages/{id}", get_message);
    router.add("POST", "/api/v1/messages/{id}/retry", action_route(queue::RecipientAction::retry));
    router.add("POST", "/api/v1/messages/{id}/hold", action_route(queue::RecipientAction::hold));
    router.add("POST", "/api/v1/messages/{id}/release",
               action_route(queue::RecipientAction::release));
    router.add("POST", "/api/v1/messages/{id}/cancel",
               action_route(queue::RecipientAction::cancel));
}

}  // namespace smarthost::admin
