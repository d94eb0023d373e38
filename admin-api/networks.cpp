#include "admin-api/networks.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "admin-api/accounts.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/cidr.hpp"
#include "admin-api/json_body.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_create_fields[] = {"cidr", "force"};

constexpr std::string_view k_network_json =
    "json_build_object('id', t.id, 'account_id', t.account_id, 'cidr', t.network::text, "
    "'created_at', t.created_at)";
constexpr std::string_view k_network_audit =
    "jsonb_build_object('id', t.id, 'account_id', t.account_id, 'cidr', t.network::text)";
// A forced broad network is what a later review of the audit log looks for.
constexpr std::string_view k_added_network_audit =
    "jsonb_build_object('id', t.id, 'account_id', t.account_id, 'cidr', t.network::text, "
    "'force', $7::bool)";

asio::awaitable<Response> overlap_conflict(RequestContext& context, const std::string& cidr) {
    auto rows = co_await context.pool.query(
        "SELECT network::text, account_id FROM allowed_networks WHERE network && $1::cidr "
        "LIMIT 1",
        cidr);
    std::string detail = cidr + " overlaps a network already allowed";
    if (rows && !rows->empty())
        detail = cidr + " overlaps " + std::string(rows->get(0, 0)) + " of account " +
                 std::string(rows->get(0, 1));
    co_return problem::conflict(detail, "cidr", "overlaps an existing network");
}

asio::awaitable<Response> add_network(RequestContext& context, NetworkBreadth breadth) {
    const auto account_id = context.id_param();
    if (!account_id) co_return problem::not_found("no such account");
    auto body = parse_object(context.request, k_create_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    const auto cidr = fields.required_canonical("cidr", 64, canonical_cidr);
    const auto force = fields.has("force") ? fields.boolean("force") : std::optional<bool>(false);
    if (cidr && force && !*force) {
        if (auto why = too_broad(*cidr, breadth)) fields.fail("cidr", std::move(*why));
    }
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    auto statement =
        audited(context, 201,
                "INSERT INTO allowed_networks (account_id, network) "
                "VALUES ($5, $6::cidr) RETURNING *",
                k_added_network_audit, k_network_json, params_of(*account_id, *cidr, *force));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) {
        if (pg::classify(rows.error().code) == pg::SqlStateClass::exclusion_violation) {
            auto conflict = co_await overlap_conflict(context, *cidr);
            co_return conflict;
        }
        if (pg::classify(rows.error().code) == pg::SqlStateClass::foreign_key_violation)
            co_return problem::not_found("no such account");
        co_return problem::from_database(rows.error());
    }
    co_return json_response(201, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> list_networks(RequestContext& context) {
    auto response = co_await list_of_account(context, "allowed_networks", k_network_json);
    co_return response;
}

asio::awaitable<Response> delete_network(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such network");
    auto statement = audited(context, 204, "DELETE FROM allowed_networks WHERE id = $5 RETURNING *",
                             k_network_audit, "t.id", params_of(*id));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such network");
    co_return no_content();
}

}  // namespace

void add_network_routes(Router& router, NetworkBreadth breadth) {
    router.add("GET", "/api/v1/accounts/{id}/networks", list_networks);
    router.add("POST", "/api/v1/accounts/{id}/networks",
               [breadth](RequestContext& context) { return add_network(context, breadth); });
    router.add("DELETE", "/api/v1/networks/{id}", delete_network);
}

}  // namespace smarthost::admin
