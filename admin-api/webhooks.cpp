#include "admin-api/webhooks.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <optional>
#include <string>

#include "admin-api/accounts.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/pagination.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "relay/events/event_kinds.hpp"
#include "relay/events/signature.hpp"
#include "relay/events/webhook_url.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_create_fields[] = {"url", "event_types", "description", "enabled"};
constexpr std::string_view k_update_fields[] = {"url", "event_types", "description", "enabled"};

constexpr std::size_t k_description_max = 1024;
// Endpoints per account, and global ones: each is one more POST per event.
constexpr std::int64_t k_max_endpoints = 10;

constexpr std::string_view k_endpoint_json =
    "json_build_object('id', t.id, 'account_id', t.account_id, 'url', t.url, "
    "'event_types', t.event_types, 'description', t.description, 'enabled', t.enabled, "
    "'health', json_build_object('last_success_at', t.last_success_at, "
    "'last_failure_at', t.last_failure_at, 'last_failure_reason', t.last_failure_reason, "
    "'consecutive_failures', t.consecutive_failures), "
    "'created_at', t.created_at, 'updated_at', t.updated_at)";
// The secret never goes into the audit log.
constexpr std::string_view k_endpoint_audit =
    "jsonb_build_object('id', t.id, 'account_id', t.account_id, 'url', t.url, "
    "'event_types', t.event_types, 'enabled', t.enabled)";

// Serializes creations of one owner's endpoints, so the cap holds under concurrent POSTs.
constexpr std::string_view k_lock_owner =
    "SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || "
    "coalesce($1::bigint::text, 'global'), 0))";
constexpr std::string_view k_insert_endpoint = R"sql(
INSERT INTO webhook_endpoints (account_id, url, event_types, secret, description, enabled)
SELECT $5::bigint, $6, $7::text[], $8, coalesce($9::text, ''), coalesce($10::bool, true)
WHERE (SELECT count(*) FROM webhook_endpoints WHERE account_id IS NOT DISTINCT FROM $5::bigint)
      < $11::bigint
RETURNING *)sql";
constexpr std::string_view k_update_endpoint = R"sql(
UPDATE webhook_endpoints
SET url = coalesce($6, url), event_types = coalesce($7::text[], event_types),
    description = coalesce($8, description), enabled = coalesce($9::bool, enabled),
    updated_at = now()
WHERE id = $5 RETURNING *)sql";
constexpr std::string_view k_rotate_secret =
    "UPDATE webhook_endpoints SET secret = $6, updated_at = now() WHERE id = $5 RETURNING *";
constexpr std::string_view k_delete_endpoint =
    "DELETE FROM webhook_endpoints WHERE id = $5 RETURNING *";

// One audit row for the whole replay, with the number of deliveries it put back.
constexpr std::string_view k_replay = R"sql(
WITH endpoint AS (
    SELECT id FROM webhook_endpoints WHERE id = $5
), changed AS (
    UPDATE webhook_deliveries d
    SET state = 'pending', attempts = 0, next_attempt_at = now(), lease_owner = NULL,
        lease_expires_at = NULL, updated_at = now()
    FROM endpoint WHERE d.endpoint_id = endpoint.id AND d.state = 'failed'
    RETURNING d.id
), audit AS (
    INSERT INTO audit_log (token_name, method, path, status, detail)
    SELECT $1::text, $2::text, $3::text, $4::int,
           jsonb_build_object('endpoint_id', endpoint.id,
                              'replayed', (SELECT count(*) FROM changed))
    FROM endpoint
)
SELECT json_build_object('replayed', (SELECT count(*) FROM changed)),
       pg_notify('smarthost_webhooks', '')
FROM endpoint)sql";

constexpr std::string_view k_list_deliveries = R"sql(
SELECT json_build_object('id', d.id, 'event_id', d.event_id, 'type', e.kind, 'state', d.state,
                         'attempts', d.attempts, 'next_attempt_at', d.next_attempt_at,
                         'last_status', d.last_status, 'last_error', d.last_error,
                         'created_at', d.created_at, 'delivered_at', d.delivered_at,
                         'updated_at', d.updated_at, 'event', e.payload), d.id
FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.state = $2)
  AND ($3::bigint IS NULL OR d.id < $3)
ORDER BY d.id DESC
LIMIT $4)sql";

// "{a,b}": the kinds are from the catalogue, so no element needs quoting.
std::string text_array(const std::vector<std::string>& items) {
    std::string text = "{";
    for (const auto& item : items)
        text += (text.size() > 1 ? "," : "") + item;
    return text + "}";
}

std::optional<std::string> read_url(FieldReader& fields, bool required) {
    if (!fields.has("url")) {
        if (required) fields.fail("url", "is required");
        return std::nullopt;
    }
    auto url = fields.string("url", events::k_max_url_length);
    if (!url) return std::nullopt;
    std::string why;
    if (!events::parse_webhook_url(*url, why)) {
        fields.fail("url", why);
        return std::nullopt;
    }
    return url;
}

// A non-empty array of distinct known event kinds, as a text[] literal.
std::optional<std::string> read_event_types(const json::object& body, FieldReader& fields,
                                            bool required) {
    const auto* value = body.if_contains("event_types");
    if (!value) {
        if (required) fields.fail("event_types", "is required");
        return std::nullopt;
    }
    if (!value->is_array() || value->as_array().empty()) {
        fields.fail("event_types", "must be a non-empty array of event types");
        return std::nullopt;
    }
    std::vector<std::string> kinds;
    bool ok = true;
    const auto& array = value->as_array();
    for (std::size_t i = 0; i < array.size(); ++i) {
        const std::string field = "event_types[" + std::to_string(i) + "]";
        if (!array[i].is_string() || !events::is_event_kind(array[i].as_string())) {
            std::string known;
            for (const auto kind : events::event_kinds())
                known += (known.empty() ? "" : ", ") + std::string(kind);
            fields.fail(field, "must be one of " + known);
            ok = false;
            continue;
        }
        std::string kind(array[i].as_string());
        if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) {
            fields.fail(field, "is listed twice");
            ok = false;
            continue;
        }
        kinds.push_back(std::move(kind));
    }
    if (!ok) return std::nullopt;
    return text_array(kinds);
}

Response with_secret(std::string_view endpoint_json, unsigned status, const std::string& secret) {
    auto value = json::parse(endpoint_json);
    value.as_object()["secret"] = secret;
    return json_response(status, json::serialize(value));
}

asio::awaitable<Response> run_change(RequestContext& context, unsigned status, std::string_view dml,
                                     std::vector<pg::Param> params,
                                     const std::string* secret = nullptr) {
    auto statement =
        audited(context, status, dml, k_endpoint_audit, k_endpoint_json, std::move(params));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such webhook endpoint");
    if (secret) co_return with_secret(rows->get(0, 0), status, *secret);
    co_return json_response(status, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> create_endpoint(RequestContext& context,
                                          std::optional<std::int64_t> account_id) {
    auto body = parse_object(context.request, k_create_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    const auto& object = std::get<json::object>(body);
    FieldReader fields(object);
    const auto url = read_url(fields, true);
    const auto event_types = read_event_types(object, fields, true);
    const auto description = fields.string("description", k_description_max, true);
    const auto enabled = fields.boolean("enabled");
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    const std::string secret = events::generate_secret();
    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{std::string(k_lock_owner), params_of(account_id)});
    statements.push_back(audited(
        context, 201, k_insert_endpoint, k_endpoint_audit, k_endpoint_json,
        params_of(account_id, *url, *event_types, secret, description, enabled, k_max_endpoints)));
    auto results = co_await context.pool.transaction(std::move(statements));
    if (!results) {
        if (pg::classify(results.error().code) == pg::SqlStateClass::foreign_key_violation)
            co_return problem::not_found("no such account");
        co_return problem::from_database(results.error());
    }
    const auto& rows = results->at(1);
    if (rows.empty())
        co_return problem::conflict(
            "at most " + std::to_string(k_max_endpoints) +
            (account_id ? " webhook endpoints per account" : " global webhook endpoints") +
            "; delete one first");
    co_return with_secret(rows.get(0, 0), 201, secret);
}

asio::awaitable<Response> create_global(RequestContext& context) {
    auto response = co_await create_endpoint(context, std::nullopt);
    co_return response;
}

asio::awaitable<Response> create_for_account(RequestContext& context) {
    const auto account_id = context.id_param();
    if (!account_id) co_return problem::not_found("no such account");
    auto response = co_await create_endpoint(context, account_id);
    co_return response;
}

asio::awaitable<Response> list_global(RequestContext& context) {
    std::vector<FieldError> errors;
    const auto page = read_page(parse_query(context.request.query), errors);
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(
        "SELECT " + std::string(k_endpoint_json) +
            ", t.id FROM webhook_endpoints t WHERE t.account_id IS NULL "
            "AND ($1::bigint IS NULL OR t.id > $1) ORDER BY t.id LIMIT $2",
        page.cursor, page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

asio::awaitable<Response> list_for_account(RequestContext& context) {
    auto response = co_await list_of_account(context, "webhook_endpoints", k_endpoint_json);
    co_return response;
}

asio::awaitable<Response> get_endpoint(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such webhook endpoint");
    auto rows = co_await context.pool.query(
        "SELECT " + std::string(k_endpoint_json) + " FROM webhook_endpoints t WHERE t.id = $1",
        *id);
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such webhook endpoint");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> update_endpoint(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such webhook endpoint");
    auto body = parse_object(context.request, k_update_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    const auto& object = std::get<json::object>(body);
    FieldReader fields(object);
    const auto url = read_url(fields, false);
    const auto event_types = read_event_types(object, fields, false);
    const auto description = fields.string("description", k_description_max, true);
    const auto enabled = fields.boolean("enabled");
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));
    auto response = co_await run_change(context, 200, k_update_endpoint,
                                        params_of(*id, url, event_types, description, enabled));
    co_return response;
}

asio::awaitable<Response> rotate_secret(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such webhook endpoint");
    auto body = parse_object(context.request, k_no_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    const std::string secret = events::generate_secret();
    auto response =
        co_await run_change(context, 200, k_rotate_secret, params_of(*id, secret), &secret);
    co_return response;
}

asio::awaitable<Response> delete_endpoint(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such webhook endpoint");
    auto response = co_await run_change(context, 204, k_delete_endpoint, params_of(*id));
    if (response.status == 204) co_return no_content();
    co_return response;
}

asio::awaitable<Response> list_deliveries(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such webhook endpoint");
    const auto query = parse_query(context.request.query);
    std::vector<FieldError> errors;
    const auto page = read_page(query, errors);
    const auto state = query_value(query, "state");
    if (state && *state != "pending" && *state != "delivered" && *state != "failed")
        errors.push_back({"state", "must be pending, delivered or failed"});
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto endpoint =
        co_await context.pool.query("SELECT 1 FROM webhook_endpoints WHERE id = $1", *id);
    if (!endpoint) co_return problem::from_database(endpoint.error());
    if (endpoint->empty()) co_return problem::not_found("no such webhook endpoint");
    auto rows = co_await context.pool.query(std::string(k_list_deliveries), *id, state, page.cursor,
                                            page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

asio::awaitable<Response> replay(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such webhook endpoint");
    auto body = parse_object(context.request, k_no_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    auto params = audit_params(context, 200);
    params.push_back(pg::to_param(*id));
    auto rows = co_await context.pool.execute(std::string(k_replay), std::move(params));
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such webhook endpoint");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

}  // namespace

void add_webhook_routes(Router& router) {
    router.add("GET", "/api/v1/webhooks", list_global);
    router.add("POST", "/api/v1/webhooks", create_global);
    router.add("GET", "/api/v1/accounts/{id}/webhooks", list_for_account);
    router.add("POST", "/api/v1/accounts/{id}/webhooks", create_for_account);
    router.add("GET", "/api/v1/webhooks/{id}", get_endpoint);
    router.add("PATCH", "/api/v1/webhooks/{id}", update_endpoint);
    router.add("DELETE", "/api/v1/webhooks/{id}", delete_endpoint);
    router.add("POST", "/api/v1/webhooks/{id}/rotate-secret", rotate_secret);
    router.add("GET", "/api/v1/webhooks/{id}/deliveries", list_deliveries);
    router.add("POST", "/api/v1/webhooks/{id}/replay", replay);
}

}  // namespace smarthost::admin
