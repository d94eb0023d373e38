#include "admin-api/accounts.hpp"

#include <fmt/format.h>
#include <array>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <limits>

#include "admin-api/account_scanning.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/pagination.hpp"
#include "admin-api/scope_limits.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "relay/events/outbox.hpp"
#include "relay/queue/holds.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// The fields each request body may have; anything else is a 422.
constexpr std::string_view k_create_fields[] = {"name", "note", "limits", "scanning"};
constexpr std::string_view k_update_fields[] = {"note",   "status",    "suspended_reason",
                                                "limits", "sub_users", "scanning"};
constexpr std::string_view k_suspend_fields[] = {"reason"};

struct LimitColumn {
    std::string_view name;
    std::int64_t max;
};
constexpr std::int64_t k_int_max = std::numeric_limits<std::int32_t>::max();
// The per-account limits of schema/0001_init.sql; NULL means the configured default.
constexpr std::array<LimitColumn, 8> k_limits{{
    {"messages_per_minute", k_int_max},
    {"messages_per_hour", k_int_max},
    {"messages_per_day", k_int_max},
    {"recipients_per_hour", k_int_max},
    {"recipients_per_day", k_int_max},
    {"recipients_per_message", k_int_max},
    {"max_message_bytes", std::numeric_limits<std::int64_t>::max()},
    {"max_connections", k_int_max},
}};
constexpr std::size_t k_name_max = 63;
constexpr std::size_t k_note_max = 4096;
constexpr std::size_t k_reason_max = 1024;

std::string limit_sql_type(std::string_view column) {
    return column == "max_message_bytes" ? "bigint" : "int";
}

std::string account_json() {
    std::string limits;
    for (const auto& limit : k_limits)
        limits += (limits.empty() ? "" : ", ") + std::string("'") + std::string(limit.name) +
                  "', t." + std::string(limit.name);
    return "json_build_object('id', t.id, 'name', t.name, 'status', t.status, "
           "'suspended_reason', t.suspended_reason, 'note', t.note, 'limits', "
           "json_build_object(" +
           limits + "), 'sub_users', " + sub_user_settings_json() + ", 'scanning', " +
           scanning_json() + ", 'created_at', t.created_at, 'updated_at', t.updated_at)";
}
const std::string k_account_json = account_json();
constexpr std::string_view k_account_audit = "jsonb_build_object('id', t.id, 'name', t.name)";

std::string insert_sql() {
    std::string columns = "name, note";
    std::string values = "$5, coalesce($6::text, '')";
    int index = 7;
    for (const auto& limit : k_limits) {
        columns += ", " + std::string(limit.name);
        values += ", $" + std::to_string(index++) + "::" + limit_sql_type(limit.name);
    }
    for (std::size_t i = 0; i < k_scanning_columns.size(); ++i) {
        columns += ", " + std::string(k_scanning_columns[i]);
        values += ", $" + std::to_string(index++) + "::" + std::string(k_scanning_sql_types[i]);
    }
    return "INSERT INTO accounts (" + columns + ") VALUES (" + values + ") RETURNING *";
}
const std::string k_insert_account = insert_sql();

// A status change reports account.suspended or account.resumed to webhooks, in the same
// statement: the UPDATEs below return the status the account had before (p).
constexpr std::string_view k_previous_status =
    " FROM (SELECT status AS previous_status FROM accounts WHERE id = $5 FOR UPDATE) p ";
const std::string k_status_events = events::outbox_ctes(
    "webhook",
    "SELECT CASE WHEN c.status = 'suspended' THEN 'account.suspended' ELSE 'account.resumed' "
    "END, c.id, jsonb_build_object('status', c.status, 'reason', c.suspended_reason) "
    "FROM changed c WHERE c.status IS DISTINCT FROM c.previous_status");

// $5 id, $6 note, $7 status, $8 suspended_reason, then a (present, value) pair per limit:
// absent limits keep their value, a JSON null resets one to the default.
std::string update_sql() {
    std::string sql =
        "UPDATE accounts SET note = coalesce($6, note), status = coalesce($7, status), "
        "suspended_reason = CASE WHEN $7 = 'active' THEN NULL "
        "WHEN $7 = 'suspended' THEN coalesce($8, suspended_reason) ELSE suspended_reason END";
    int index = 9;
    for (const auto& limit : k_limits) {
        const std::string column(limit.name);
        sql += fmt::format(", {0} = CASE WHEN ${1}::bool THEN ${2}::{3} ELSE {0} END", column,
                           index, index + 1, limit_sql_type(column));
        index += 2;
    }
    sql += sub_user_settings_update_sql(index);
    for (std::size_t i = 0; i < k_scanning_columns.size(); ++i) {
        sql += fmt::format(", {0} = CASE WHEN ${1}::bool THEN ${2}::{3} ELSE {0} END",
                           k_scanning_columns[i], index, index + 1, k_scanning_sql_types[i]);
        index += 2;
    }
    return sql + ", updated_at = now()" + std::string(k_previous_status) +
           "WHERE id = $5 RETURNING accounts.*, p.previous_status";
}
const std::string k_update_account = update_sql();

constexpr std::string_view k_account_exists = "SELECT 1 FROM accounts WHERE id = $1";

constexpr std::string_view k_pending_mail = R"sql(
EXISTS (SELECT 1 FROM messages m JOIN recipients r ON r.message_id = m.id
         WHERE m.account_id = $1 AND r.state IN ('queued', 'deferred', 'in_flight')))sql";

const std::string k_suspend_account =
    "UPDATE accounts SET status = 'suspended', suspended_reason = $6, updated_at = now()" +
    std::string(k_previous_status) + "WHERE id = $5 RETURNING accounts.*, p.previous_status";
const std::string k_resume_account =
    "UPDATE accounts SET status = 'active', suspended_reason = NULL, updated_at = now()" +
    std::string(k_previous_status) + "WHERE id = $5 RETURNING accounts.*, p.previous_status";

bool valid_account_name(std::string_view name) {
    auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (name.empty() || name.size() > k_name_max || !alnum(name.front())) return false;
    for (const char c : name)
        if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

// The "limits" object of a create or update: one (present, value) per column.
std::vector<std::optional<std::optional<std::int64_t>>> read_limits(FieldReader& fields) {
    std::vector<std::optional<std::optional<std::int64_t>>> values(k_limits.size());
    const auto* limits = fields.object("limits");
    if (!limits) return values;
    auto nested = fields.nested(*limits, "limits");
    std::vector<std::string_view> names;
    for (const auto& limit : k_limits)
        names.push_back(limit.name);
    for (const auto& entry : *limits)
        if (std::find(names.begin(), names.end(), std::string_view(entry.key())) == names.end())
            nested.fail(entry.key(), "unknown field");
    for (std::size_t i = 0; i < k_limits.size(); ++i)
        values[i] = nested.limit(k_limits[i].name, k_limits[i].max);
    return values;
}

// The answer to a change the database refused: a taken name, scanning thresholds out of
// order with the stored ones (schema/0015_content_scan.sql), or the generic answers.
Response change_problem(const Error& error) {
    if (pg::classify(error.code) == pg::SqlStateClass::unique_violation)
        return problem::conflict("an account with this name exists", "name", "already taken");
    if (error.message.find(k_thresholds_order_constraint) != std::string::npos)
        return problem::validation("scanning",
                                   "the thresholds, with those stored, must be ordered "
                                   "add_header_score <= hold_score <= reject_score");
    return problem::from_database(error);
}

asio::awaitable<Response> run_change(RequestContext& context, unsigned status, std::string_view dml,
                                     std::vector<pg::Param> params) {
    auto statement =
        audited(context, status, dml, k_account_audit, k_account_json, std::move(params));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return change_problem(rows.error());
    if (rows->empty()) co_return problem::not_found("no such account");
    co_return json_response(status, std::string(rows->get(0, 0)));
}

// A change that may suspend or resume the account: with it, in one transaction, the
// account's hold follows its status (relay/queue/holds.hpp), so a suspended account's
// queued mail waits and a resumed one's goes again.
std::vector<pg::Statement> status_change(const RequestContext& context, unsigned status,
                                         std::string_view dml, std::vector<pg::Param> params,
                                         std::int64_t id) {
    std::vector<pg::Statement> statements;
    statements.push_back(audited(context, status, dml, k_account_audit, k_account_json,
                                 std::move(params), k_status_events));
    statements.push_back(pg::Statement{std::string(queue::reconcile_account_hold_sql()),
                                       params_of(id, "api:" + context.token_name)});
    statements.push_back(pg::Statement{std::string(queue::start_hold_jobs_sql()), {}});
    return statements;
}

asio::awaitable<Response> run_status_change(RequestContext& context, unsigned status,
                                            std::string_view dml, std::vector<pg::Param> params,
                                            std::int64_t id) {
    auto results = co_await context.pool.transaction(
        status_change(context, status, dml, std::move(params), id));
    if (!results) co_return change_problem(results.error());
    const auto& rows = results->front();
    if (rows.empty()) co_return problem::not_found("no such account");
    co_return json_response(status, std::string(rows.get(0, 0)));
}

asio::awaitable<Response> list_accounts(RequestContext& context) {
    const auto query = parse_query(context.request.query);
    std::vector<FieldError> errors;
    const auto page = read_page(query, errors);
    const auto status = query_value(query, "status");
    if (status && *status != "active" && *status != "suspended")
        errors.push_back({"status", "must be active or suspended"});
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(
        "SELECT " + k_account_json +
            ", t.id FROM accounts t WHERE ($1::text IS NULL OR t.status = $1) "
            "AND ($2::text IS NULL OR starts_with(t.name, $2)) "
            "AND ($3::bigint IS NULL OR t.id > $3) ORDER BY t.id LIMIT $4",
        status, query_value(query, "name"), page.cursor, page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

asio::awaitable<Response> create_account(RequestContext& context) {
    auto body = parse_object(context.request, k_create_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    const auto name = fields.string("name", k_name_max);
    if (!fields.has("name"))
        fields.fail("name", "is required");
    else if (name && !valid_account_name(*name))
        fields.fail("name", "letters, digits, '.', '_' and '-', starting with a letter or digit");
    const auto note = fields.string("note", k_note_max, true);
    const auto limits = read_limits(fields);
    const auto scanning = read_scanning(fields);
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    auto params = params_of(*name, note);
    for (const auto& limit : limits)
        params.push_back(limit ? pg::to_param(*limit) : pg::null_param());
    append_insert_params(scanning, params);
    auto response = co_await run_change(context, 201, k_insert_account, std::move(params));
    co_return response;
}

asio::awaitable<Response> get_account(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such account");
    auto rows = co_await context.pool.query(
        "SELECT " + k_account_json + " FROM accounts t WHERE t.id = $1", *id);
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such account");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> update_account(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such account");
    auto body = parse_object(context.request, k_update_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    const auto note = fields.string("note", k_note_max, true);
    const auto status = fields.string("status", 16);
    if (status && *status != "active" && *status != "suspended")
        fields.fail("status", "must be active or suspended");
    const auto reason = fields.string("suspended_reason", k_reason_max, true);
    const auto limits = read_limits(fields);
    const auto sub_users = read_sub_user_settings(fields);
    const auto scanning = read_scanning(fields);
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    auto params = params_of(*id, note, status, reason);
    for (const auto& limit : limits) {
        params.push_back(pg::to_param(limit.has_value()));
        params.push_back(limit ? pg::to_param(*limit) : pg::null_param());
    }
    push_sub_user_params(sub_users, params);
    append_update_params(scanning, params);
    auto response =
        co_await run_status_change(context, 200, k_update_account, std::move(params), *id);
    co_return response;
}

asio::awaitable<Response> suspend_account(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such account");
    auto body = parse_object(context.request, k_suspend_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    const auto reason = fields.string("reason", k_reason_max, true);
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));
    auto response =
        co_await run_status_change(context, 200, k_suspend_account, params_of(*id, reason), *id);
    co_return response;
}

asio::awaitable<Response> resume_account(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such account");
    auto body = parse_object(context.request, k_no_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    auto response = co_await run_status_change(context, 200, k_resume_account, params_of(*id), *id);
    co_return response;
}

// Refused while the account has mail still to deliver, unless ?force=true. Its stored
// messages go with it (messages.account_id has no ON DELETE: history must be removed
// explicitly, in the same transaction).
asio::awaitable<Response> delete_account(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such account");
    const auto force_text = query_value(parse_query(context.request.query), "force");
    if (force_text && *force_text != "true" && *force_text != "false")
        co_return problem::validation("force", "must be true or false");
    const bool force = force_text == "true";

    std::vector<pg::Statement> statements;
    statements.push_back(
        pg::Statement{"DELETE FROM messages WHERE account_id = $1 AND ($2 OR NOT " +
                          std::string(k_pending_mail) + ")",
                      params_of(*id, force)});
    // In the audited statement the account id is $5 and force $6.
    std::string pending(k_pending_mail);
    pending.replace(pending.find("$1"), 2, "$5");
    statements.push_back(
        audited(context, 204,
                "DELETE FROM accounts WHERE id = $5 AND ($6 OR NOT " + pending + ") RETURNING *",
                "jsonb_build_object('id', t.id, 'name', t.name, 'force', $6::bool)", "t.id",
                params_of(*id, force)));
    auto results = co_await context.pool.transaction(std::move(statements));
    if (!results) co_return problem::from_database(results.error());
    if (!results->at(1).empty()) co_return no_content();

    auto exists = co_await context.pool.query(std::string(k_account_exists), *id);
    if (!exists) co_return problem::from_database(exists.error());
    if (exists->empty()) co_return problem::not_found("no such account");
    co_return problem::conflict(
        "the account still has queued, deferred or in-flight mail; delete with ?force=true to "
        "discard it");
}

}  // namespace

asio::awaitable<Response> list_of_account(RequestContext& context, std::string_view table,
                                          std::string_view item_json, std::string_view condition,
                                          std::vector<pg::Param> extra) {
    const auto account_id = context.id_param();
    if (!account_id) co_return problem::not_found("no such account");
    std::vector<FieldError> errors;
    const auto page = read_page(parse_query(context.request.query), errors);
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto account = co_await context.pool.query(std::string(k_account_exists), *account_id);
    if (!account) co_return problem::from_database(account.error());
    if (account->empty()) co_return problem::not_found("no such account");
    auto params = params_of(*account_id, page.cursor, page.limit + 1);
    for (auto& param : extra)
        params.push_back(std::move(param));
    // `table`, `item_json` and `condition` are constants of the calling route, never
    // request input.
    auto rows = co_await context.pool.execute(
        "SELECT " + std::string(item_json) + ", t.id FROM " + std::string(table) +
            " t WHERE t.account_id = $1 AND ($2::bigint IS NULL OR t.id > $2) AND (" +
            std::string(condition) + ") ORDER BY t.id LIMIT $3",
        std::move(params));
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

void add_account_routes(Router& router) {
    router.add("GET", "/api/v1/accounts", list_accounts);
    router.add("POST", "/api/v1/accounts", create_account);
    router.add("GET", "/api/v1/accounts/{id}", get_account);
    router.add("PATCH", "/api/v1/accounts/{id}", update_account);
    router.add("DELETE", "/api/v1/accounts/{id}", delete_account);
    router.add("POST", "/api/v1/accounts/{id}/suspend", suspend_account);
    router.add("POST", "/api/v1/accounts/{id}/resume", resume_account);
}

}  // namespace smarthost::admin
