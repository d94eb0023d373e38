#include "admin-api/sender_domains.hpp"

#include <sodium.h>

#include <array>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <memory>

#include "admin-api/accounts.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/mail_names.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_create_fields[] = {"domain", "include_subdomains"};
constexpr std::string_view k_update_fields[] = {"include_subdomains", "dkim_policy"};

// 16 random bytes: 32 lower-case hex characters, unguessable, so a record can only be
// published by someone who read it from this API.
constexpr std::size_t k_token_bytes = 16;

// The record's owner name uses the label, bound as $5 wherever this is used.
constexpr std::string_view k_domain_json =
    "json_build_object('id', t.id, 'account_id', t.account_id, 'domain', t.domain, "
    "'include_subdomains', t.include_subdomains, 'status', t.status, "
    "'verification', json_build_object('token', t.verification_token, 'record', "
    "json_build_object('type', 'TXT', 'name', $5::text || '.' || t.domain, "
    "'value', 'smarthost-verification=' || t.verification_token)), "
    "'dkim_policy', t.dkim_policy, 'checked_at', t.checked_at, 'verified_at', t.verified_at, "
    "'created_at', t.created_at)";
constexpr std::string_view k_domain_audit =
    "jsonb_build_object('id', t.id, 'account_id', t.account_id, 'domain', t.domain, "
    "'include_subdomains', t.include_subdomains, 'dkim_policy', t.dkim_policy)";

constexpr std::string_view k_insert_domain =
    "INSERT INTO sender_domains (account_id, domain, include_subdomains, verification_token) "
    "VALUES ($6, $7, coalesce($8, false), $9) RETURNING *";
constexpr std::string_view k_update_domain =
    "UPDATE sender_domains SET include_subdomains = coalesce($7, include_subdomains), "
    "dkim_policy = coalesce($8, dkim_policy) WHERE id = $6 RETURNING *";
constexpr std::string_view k_delete_domain = "DELETE FROM sender_domains WHERE id = $6 RETURNING *";

std::string verification_token() {
    std::array<unsigned char, k_token_bytes> random{};
    randombytes_buf(random.data(), random.size());
    std::array<char, k_token_bytes * 2 + 1> hex{};
    sodium_bin2hex(hex.data(), hex.size(), random.data(), random.size());
    return std::string(hex.data(), k_token_bytes * 2);
}

// A no-op change that audits the check and returns the domain as stored after it.
constexpr std::string_view k_touch_domain =
    "UPDATE sender_domains SET checked_at = checked_at WHERE id = $6 RETURNING *";

struct DomainRoutes {
    std::string label;
    VerifyDomain verify_domain;

    asio::awaitable<Response> run_change(RequestContext& context, unsigned status,
                                         std::string_view dml, std::vector<pg::Param> params) {
        auto all = params_of(label);
        for (auto& param : params)
            all.push_back(std::move(param));
        auto statement =
            audited(context, status, dml, k_domain_audit, k_domain_json, std::move(all));
        auto rows =
            co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
        if (!rows) {
            if (pg::classify(rows.error().code) == pg::SqlStateClass::unique_violation)
                co_return problem::conflict("the account already has this domain", "domain",
                                            "already added");
            if (pg::classify(rows.error().code) == pg::SqlStateClass::foreign_key_violation)
                co_return problem::not_found("no such account");
            co_return problem::from_database(rows.error());
        }
        if (rows->empty()) co_return problem::not_found("no such domain");
        co_return json_response(status, std::string(rows->get(0, 0)));
    }

    asio::awaitable<Response> add(RequestContext& context) {
        const auto account_id = context.id_param();
        if (!account_id) co_return problem::not_found("no such account");
        auto body = parse_object(context.request, k_create_fields);
        if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
        FieldReader fields(std::get<json::object>(body));
        const auto domain = fields.required_canonical("domain", 255, canonical_domain);
        const auto include_subdomains = fields.boolean("include_subdomains");
        if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));
        auto response = co_await run_change(
            context, 201, k_insert_domain,
            params_of(*account_id, *domain, include_subdomains, verification_token()));
        co_return response;
    }

    // POST /api/v1/domains/{id}/verify: the TXT lookup now, instead of at the next
    // periodic re-check. "conclusive": false when the DNS did not answer (status kept).
    asio::awaitable<Response> verify(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such domain");
        if (!verify_domain) co_return problem::unavailable();
        auto checked = co_await verify_domain(*id);
        if (!checked) co_return problem::from_database(checked.error());
        if (!*checked) co_return problem::not_found("no such domain");
        const bool conclusive = **checked;
        auto response = co_await run_change(context, 200, k_touch_domain, params_of(*id));
        if (response.status != 200) co_return response;
        boost::system::error_code ec;
        auto document = json::parse(response.body, ec);
        if (ec || !document.is_object()) co_return response;
        document.as_object()["conclusive"] = conclusive;
        response.body = json::serialize(document);
        co_return response;
    }

    asio::awaitable<Response> list(RequestContext& context) {
        auto response = co_await list_of_account(context, "sender_domains", with_label_at(4),
                                                 "true", params_of(label));
        co_return response;
    }

    asio::awaitable<Response> get(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such domain");
        auto rows = co_await context.pool.query(
            "SELECT " + with_label_at(2) + " FROM sender_domains t WHERE t.id = $1", *id, label);
        if (!rows) co_return problem::from_database(rows.error());
        if (rows->empty()) co_return problem::not_found("no such domain");
        co_return json_response(200, std::string(rows->get(0, 0)));
    }

    asio::awaitable<Response> update(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such domain");
        auto body = parse_object(context.request, k_update_fields);
        if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
        FieldReader fields(std::get<json::object>(body));
        const auto include_subdomains = fields.boolean("include_subdomains");
        std::optional<std::string> dkim_policy;
        if (fields.has("dkim_policy")) {
            dkim_policy = fields.string("dkim_policy", 16);
            if (dkim_policy && *dkim_policy != "off" && *dkim_policy != "verified" &&
                *dkim_policy != "always")
                fields.fail("dkim_policy", "must be \"off\", \"verified\" or \"always\"");
        }
        if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));
        auto response = co_await run_change(context, 200, k_update_domain,
                                            params_of(*id, include_subdomains, dkim_policy));
        co_return response;
    }

    asio::awaitable<Response> remove(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such domain");
        auto response = co_await run_change(context, 204, k_delete_domain, params_of(*id));
        if (response.status == 204) co_return no_content();
        co_return response;
    }

    // k_domain_json with the label bound as $index instead of $5.
    static std::string with_label_at(int index) {
        // Built by appending: GCC 12 warns falsely (-Wrestrict) on replace() here.
        const std::string_view json(k_domain_json);
        const auto at = json.find("$5");
        std::string item(json.substr(0, at));
        item += '$';
        item += std::to_string(index);
        item += json.substr(at + 2);
        return item;
    }
};

}  // namespace

void add_sender_domain_routes(Router& router, std::string verification_label, VerifyDomain verify) {
    auto routes = std::make_shared<DomainRoutes>(
        DomainRoutes{std::move(verification_label), std::move(verify)});
    auto bind = [routes](asio::awaitable<Response> (DomainRoutes::*handler)(RequestContext&)) {
        return [routes, handler](RequestContext& context) { return ((*routes).*handler)(context); };
    };
    router.add("GET", "/api/v1/accounts/{id}/domains", bind(&DomainRoutes::list));
    router.add("POST", "/api/v1/accounts/{id}/domains", bind(&DomainRoutes::add));
    router.add("GET", "/api/v1/domains/{id}", bind(&DomainRoutes::get));
    router.add("PATCH", "/api/v1/domains/{id}", bind(&DomainRoutes::update));
    router.add("DELETE", "/api/v1/domains/{id}", bind(&DomainRoutes::remove));
    router.add("POST", "/api/v1/domains/{id}/verify", bind(&DomainRoutes::verify));
}

}  // namespace smarthost::admin
