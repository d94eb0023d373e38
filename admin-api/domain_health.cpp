#include "admin-api/domain_health.hpp"

#include <memory>

#include "admin-api/audit.hpp"
#include "admin-api/problem.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

// health and checked_at are NULL until the first check has finished (sender_domain_health).
constexpr std::string_view k_health_json =
    "json_build_object('domain_id', t.id, 'domain', t.domain, 'checked_at', "
    "(SELECT h.checked_at FROM sender_domain_health h WHERE h.sender_domain_id = t.id "
    "AND h.health IS NOT NULL), "
    "'health', (SELECT h.health FROM sender_domain_health h WHERE h.sender_domain_id = t.id))";

// A no-op change that audits the refresh and returns the domain as stored after it.
constexpr std::string_view k_touch_domain =
    "UPDATE sender_domains SET domain = domain WHERE id = $5 RETURNING *";
constexpr std::string_view k_refresh_audit = "jsonb_build_object('id', t.id, 'domain', t.domain)";

struct HealthRoutes {
    RefreshDomainHealth refresh_health;

    asio::awaitable<Response> get(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such domain");
        auto rows = co_await context.pool.query(
            "SELECT " + std::string(k_health_json) + " FROM sender_domains t WHERE t.id = $1", *id);
        if (!rows) co_return problem::from_database(rows.error());
        if (rows->empty()) co_return problem::not_found("no such domain");
        co_return json_response(200, std::string(rows->get(0, 0)));
    }

    // POST /api/v1/domains/{id}/health/refresh: the lookups now, instead of at the next
    // periodic check; answers what get() would answer afterwards.
    asio::awaitable<Response> refresh(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such domain");
        if (!refresh_health) co_return problem::unavailable();
        auto checked = co_await refresh_health(*id);
        if (!checked) co_return problem::from_database(checked.error());
        if (!*checked) co_return problem::not_found("no such domain");
        auto statement =
            audited(context, 200, k_touch_domain, k_refresh_audit, k_health_json, params_of(*id));
        auto rows =
            co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
        if (!rows) co_return problem::from_database(rows.error());
        if (rows->empty()) co_return problem::not_found("no such domain");
        co_return json_response(200, std::string(rows->get(0, 0)));
    }
};

}  // namespace

void add_domain_health_routes(Router& router, RefreshDomainHealth refresh) {
    auto routes = std::make_shared<HealthRoutes>(HealthRoutes{std::move(refresh)});
    router.add("GET", "/api/v1/domains/{id}/health",
               [routes](RequestContext& context) { return routes->get(context); });
    router.add("POST", "/api/v1/domains/{id}/health/refresh",
               [routes](RequestContext& context) { return routes->refresh(context); });
}

}  // namespace smarthost::admin
