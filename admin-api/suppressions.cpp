#include "admin-api/suppressions.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "admin-api/accounts.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/mail_names.hpp"
#include "admin-api/pagination.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_create_fields[] = {"address"};

constexpr std::string_view k_suppression_json =
    "json_build_object('id', t.id, 'account_id', t.account_id, 'address', t.address, "
    "'reason', t.reason, 'last_reply', t.last_reply, 'created_at', t.created_at)";
constexpr std::string_view k_suppression_audit =
    "jsonb_build_object('id', t.id, 'account_id', t.account_id, 'address', t.address, "
    "'reason', t.reason)";

asio::awaitable<Response> list_suppressions(RequestContext& context) {
    // ?address=PREFIX, compared lower-cased as the addresses are stored.
    auto prefix = query_value(parse_query(context.request.query), "address");
    if (prefix && prefix->find('\0') != std::string::npos)
        co_return problem::validation("address", "must not contain NUL");
    auto response = co_await list_of_account(
        context, "suppressions", k_suppression_json,
        "$4::text IS NULL OR starts_with(t.address, lower($4))", params_of(prefix));
    co_return response;
}

asio::awaitable<Response> add_suppression(RequestContext& context) {
    const auto account_id = context.id_param();
    if (!account_id) co_return problem::not_found("no such account");
    auto body = parse_object(context.request, k_create_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    const auto address = fields.required_canonical("address", 254, canonical_address);
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    auto statement =
        audited(context, 201,
                "INSERT INTO suppressions (account_id, address, reason) "
                "VALUES ($5, $6, 'operator') RETURNING *",
                k_suppression_audit, k_suppression_json, params_of(*account_id, *address));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) {
        if (pg::classify(rows.error().code) == pg::SqlStateClass::unique_violation)
            co_return problem::conflict(*address + " is already suppressed for this account",
                                        "address", "already suppressed");
        if (pg::classify(rows.error().code) == pg::SqlStateClass::foreign_key_violation)
            co_return problem::not_found("no such account");
        co_return problem::from_database(rows.error());
    }
    co_return json_response(201, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> delete_suppression(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such suppression");
    auto statement = audited(context, 204, "DELETE FROM suppressions WHERE id = $5 RETURNING *",
                             k_suppression_audit, "t.id", params_of(*id));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such suppression");
    co_return no_content();
}

}  // namespace

void add_suppression_routes(Router& router) {
    router.add("GET", "/api/v1/accounts/{id}/suppressions", list_suppressions);
    router.add("POST", "/api/v1/accounts/{id}/suppressions", add_suppression);
    router.add("DELETE", "/api/v1/suppressions/{id}", delete_suppression);
}

}  // namespace smarthost::admin
