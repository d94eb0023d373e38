#include "admin-api/tls_policies.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/mail_names.hpp"
#include "admin-api/pagination.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_put_fields[] = {"policy", "note"};
constexpr std::size_t k_max_note_length = 500;

// What delivery knows (relay/delivery/transport_security.cpp), in the schema's CHECK.
bool is_policy(std::string_view name) {
    return name == "require" || name == "verify" || name == "opportunistic";
}

constexpr std::string_view k_policy_json =
    "json_build_object('domain', t.domain, 'policy', t.policy, 'note', t.note, "
    "'created_at', t.created_at, 'updated_at', t.updated_at)";
constexpr std::string_view k_policy_audit =
    "jsonb_build_object('domain', t.domain, 'policy', t.policy, 'note', t.note)";

constexpr std::string_view k_upsert = R"sql(
INSERT INTO tls_policies (domain, policy, note) VALUES ($5, $6, $7)
    ON CONFLICT (domain) DO UPDATE
       SET policy = EXCLUDED.policy, note = EXCLUDED.note, updated_at = now()
RETURNING *)sql";

// The {domain} segment in its stored form, or the 422 naming it.
std::variant<std::string, Response> domain_param(const RequestContext& context) {
    std::string why;
    auto domain = canonical_domain(context.param("domain"), why);
    if (!domain) return problem::validation("domain", why);
    return std::move(*domain);
}

asio::awaitable<Response> list_policies(RequestContext& context) {
    std::vector<FieldError> errors;
    const auto page = read_page(parse_query(context.request.query), errors);
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(
        "SELECT " + std::string(k_policy_json) +
            ", t.id FROM tls_policies t WHERE ($1::bigint IS NULL OR t.id > $1) "
            "ORDER BY t.id LIMIT $2",
        page.cursor, page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

asio::awaitable<Response> get_policy(RequestContext& context) {
    auto domain = domain_param(context);
    if (auto* problem = std::get_if<Response>(&domain)) co_return std::move(*problem);
    auto rows = co_await context.pool.query(
        "SELECT " + std::string(k_policy_json) + " FROM tls_policies t WHERE t.domain = $1",
        std::get<std::string>(domain));
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no TLS policy for this domain");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> put_policy(RequestContext& context) {
    auto domain = domain_param(context);
    if (auto* problem = std::get_if<Response>(&domain)) co_return std::move(*problem);
    auto body = parse_object(context.request, k_put_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    std::optional<std::string> policy;
    if (!fields.has("policy")) {
        fields.fail("policy", "is required");
    } else {
        policy = fields.string("policy", 16);
        if (policy && !is_policy(*policy)) {
            fields.fail("policy", "must be require, verify or opportunistic");
            policy.reset();
        }
    }
    std::optional<std::string> note = std::string();
    if (fields.has("note")) note = fields.string("note", k_max_note_length, true);
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    auto statement = audited(context, 200, k_upsert, k_policy_audit, k_policy_json,
                             params_of(std::get<std::string>(domain), *policy, *note));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return problem::from_database(rows.error());
    co_return json_response(200, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> delete_policy(RequestContext& context) {
    auto domain = domain_param(context);
    if (auto* problem = std::get_if<Response>(&domain)) co_return std::move(*problem);
    auto statement = audited(context, 204, "DELETE FROM tls_policies WHERE domain = $5 RETURNING *",
                             k_policy_audit, "t.id", params_of(std::get<std::string>(domain)));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no TLS policy for this domain");
    co_return no_content();
}

}  // namespace

void add_tls_policy_routes(Router& router) {
    router.add("GET", "/api/v1/tls-policies", list_policies);
    router.add("GET", "/api/v1/tls-policies/{domain}", get_policy);
    router.add("PUT", "/api/v1/tls-policies/{domain}", put_policy);
    router.add("DELETE", "/api/v1/tls-policies/{domain}", delete_policy);
}

}  // namespace smarthost::admin
