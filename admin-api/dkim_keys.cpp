#include "admin-api/dkim_keys.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>

#include "admin-api/json_body.hpp"
#include "relay/dkim/key_store.hpp"
#include "relay/dkim/keys.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_create_fields[] = {"algorithm", "selector", "private_key_pem"};
constexpr std::string_view k_activate_fields[] = {"force"};
constexpr std::size_t k_max_selector_length = 63;

json::value optional_text(const std::optional<std::string>& text) {
    if (!text) return nullptr;
    return json::value(*text);
}

json::object key_object(const dkim::StoredKey& key) {
    const auto value = dkim::key_record_text(key.algorithm, key.public_key);
    json::array strings;
    for (auto& part : dkim::character_strings(value))
        strings.emplace_back(part);
    json::object record;
    record["name"] = dkim::key_record_name(key.selector, key.domain);
    record["type"] = "TXT";
    record["value"] = value;
    record["strings"] = std::move(strings);

    json::object object;
    object["id"] = key.id;
    object["domain_id"] = key.domain_id;
    object["domain"] = key.domain;
    object["selector"] = key.selector;
    object["algorithm"] = dkim::to_string(key.algorithm);
    object["key_bits"] = key.key_bits;
    object["state"] = dkim::to_string(key.state);
    object["imported"] = key.imported;
    object["dns_status"] = dkim::to_string(key.dns_status);
    object["dns_checked_at"] = optional_text(key.dns_checked_at);
    object["created_at"] = key.created_at;
    object["activated_at"] = optional_text(key.activated_at);
    object["retired_at"] = optional_text(key.retired_at);
    object["dns_record"] = std::move(record);
    object["zone_file_line"] = zone_file_line(key);
    return object;
}

Response refused(const dkim::KeyRefusal& refusal) {
    using Kind = dkim::KeyRefusal::Kind;
    switch (refusal.kind) {
        case Kind::not_found:
            return problem::not_found(refusal.message);
        case Kind::invalid:
            return problem::validation(refusal.field, refusal.message);
        case Kind::conflict:
            break;
    }
    if (refusal.field.empty()) return problem::conflict(refusal.message);
    return problem::conflict(refusal.message, refusal.field, refusal.message);
}

Response key_response(unsigned status, const Result<dkim::KeyOutcome<dkim::StoredKey>>& outcome) {
    if (!outcome) return problem::from_database(outcome.error());
    if (const auto* refusal = std::get_if<dkim::KeyRefusal>(&*outcome)) return refused(*refusal);
    return json_response(status, json::serialize(key_object(std::get<dkim::StoredKey>(*outcome))));
}

dkim::AuditRecord audit_of(const RequestContext& context, unsigned status) {
    dkim::AuditRecord audit;
    audit.token_name = context.token_name;
    audit.method = context.request.method;
    audit.path = context.request.path;
    audit.status = status;
    return audit;
}

Response no_key_encryption_key() {
    return problem::unavailable("dkim key-encryption key not configured");
}

struct KeyRoutes {
    DkimKeyOptions options;

    asio::awaitable<Response> create(RequestContext& context) {
        const auto domain_id = context.id_param();
        if (!domain_id) co_return problem::not_found("no such domain");
        if (!options.vault) co_return no_key_encryption_key();
        auto body = parse_object(context.request, k_create_fields);
        if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
        FieldReader fields(std::get<json::object>(body));
        dkim::NewKey request;
        request.domain_id = *domain_id;
        if (fields.has("algorithm")) {
            const auto text = fields.string("algorithm", 32);
            if (text) {
                request.algorithm = dkim::parse_algorithm(*text);
                if (!request.algorithm)
                    fields.fail("algorithm", "must be \"rsa-sha256\" or \"ed25519-sha256\"");
            }
        }
        if (fields.has("selector")) {
            request.selector = fields.string("selector", k_max_selector_length);
            if (request.selector && !dkim::valid_selector(*request.selector))
                fields.fail("selector",
                            "dot-separated labels of lower-case letters, digits and '-' "
                            "(RFC 6376 section 3.1)");
        }
        if (fields.has("private_key_pem"))
            request.private_key_pem = fields.string("private_key_pem", dkim::k_max_pem_bytes);
        if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));
        dkim::KeyStore store(context.pool, *options.vault, context.hash_executor);
        const auto audit = audit_of(context, 201);
        auto outcome =
            co_await store.create(std::move(request), std::chrono::system_clock::now(), &audit);
        co_return key_response(201, outcome);
    }

    asio::awaitable<Response> list(RequestContext& context) {
        const auto domain_id = context.id_param();
        if (!domain_id) co_return problem::not_found("no such domain");
        if (!options.vault) co_return no_key_encryption_key();
        dkim::KeyStore store(context.pool, *options.vault);
        auto keys = co_await store.list(*domain_id);
        if (!keys) co_return problem::from_database(keys.error());
        if (!*keys) co_return problem::not_found("no such domain");
        json::array items;
        for (const auto& key : **keys)
            items.push_back(key_object(key));
        json::object page;
        page["items"] = std::move(items);
        co_return json_response(200, json::serialize(page));
    }

    asio::awaitable<Response> get(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such key");
        if (!options.vault) co_return no_key_encryption_key();
        dkim::KeyStore store(context.pool, *options.vault);
        auto key = co_await store.get(*id);
        if (!key) co_return problem::from_database(key.error());
        if (!*key) co_return problem::not_found("no such key");
        co_return json_response(200, json::serialize(key_object(**key)));
    }

    // POST /api/v1/dkim-keys/{id}/verify: the record looked up now. "conclusive": false
    // when the DNS did not answer (dns_status kept).
    asio::awaitable<Response> verify(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such key");
        if (!options.vault) co_return no_key_encryption_key();
        if (!options.verify) co_return problem::unavailable("no DNS resolver in this process");
        auto checked = co_await options.verify(*id);
        if (!checked) co_return problem::from_database(checked.error());
        if (!*checked) co_return problem::not_found("no such key");
        dkim::KeyStore store(context.pool, *options.vault);
        auto key = co_await store.audit_check(*id, audit_of(context, 200));
        if (!key) co_return problem::from_database(key.error());
        if (!*key) co_return problem::not_found("no such key");
        auto object = key_object(**key);
        object["conclusive"] = (*checked)->conclusive;
        object["dns_answer"] = (*checked)->detail;
        co_return json_response(200, json::serialize(object));
    }

    asio::awaitable<Response> activate(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such key");
        if (!options.vault) co_return no_key_encryption_key();
        auto body = parse_object(context.request, k_activate_fields);
        if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
        FieldReader fields(std::get<json::object>(body));
        const auto force = fields.boolean("force");
        if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));
        dkim::KeyStore store(context.pool, *options.vault);
        const auto audit = audit_of(context, 200);
        auto outcome = co_await store.activate(*id, force.value_or(false),
                                               std::chrono::system_clock::now(), &audit);
        co_return key_response(200, outcome);
    }

    asio::awaitable<Response> retire(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such key");
        if (!options.vault) co_return no_key_encryption_key();
        auto body = parse_object(context.request, k_no_fields);
        if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
        dkim::KeyStore store(context.pool, *options.vault);
        const auto audit = audit_of(context, 200);
        auto outcome = co_await store.retire(*id, std::chrono::system_clock::now(), &audit);
        co_return key_response(200, outcome);
    }

    asio::awaitable<Response> remove(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such key");
        if (!options.vault) co_return no_key_encryption_key();
        dkim::KeyStore store(context.pool, *options.vault);
        const auto audit = audit_of(context, 204);
        auto outcome = co_await store.remove(*id, &audit);
        auto response = key_response(204, outcome);
        if (response.status == 204) co_return no_content();
        co_return response;
    }
};

}  // namespace

std::string zone_file_line(const dkim::StoredKey& key) {
    std::string line = dkim::key_record_name(key.selector, key.domain) + ". IN TXT";
    // Inside the quotes only '"' and '\' need escaping (RFC 1035 section 5.1); base64 and
    // the tags have neither, but the line must stay pasteable whatever the record holds.
    for (const auto& part :
         dkim::character_strings(dkim::key_record_text(key.algorithm, key.public_key))) {
        line += " \"";
        for (char c : part) {
            if (c == '"' || c == '\\') line += '\\';
            line += c;
        }
        line += '"';
    }
    return line;
}

std::string dkim_key_json(const dkim::StoredKey& key) {
    return json::serialize(key_object(key));
}

void add_dkim_key_routes(Router& router, DkimKeyOptions options) {
    auto routes = std::make_shared<KeyRoutes>(KeyRoutes{std::move(options)});
    auto bind = [routes](asio::awaitable<Response> (KeyRoutes::*handler)(RequestContext&)) {
        return [routes, handler](RequestContext& context) { return ((*routes).*handler)(context); };
    };
    router.add("GET", "/api/v1/domains/{id}/dkim-keys", bind(&KeyRoutes::list));
    router.add("POST", "/api/v1/domains/{id}/dkim-keys", bind(&KeyRoutes::create));
    router.add("GET", "/api/v1/dkim-keys/{id}", bind(&KeyRoutes::get));
    router.add("DELETE", "/api/v1/dkim-keys/{id}", bind(&KeyRoutes::remove));
    router.add("POST", "/api/v1/dkim-keys/{id}/verify", bind(&KeyRoutes::verify));
    router.add("POST", "/api/v1/dkim-keys/{id}/activate", bind(&KeyRoutes::activate));
    router.add("POST", "/api/v1/dkim-keys/{id}/retire", bind(&KeyRoutes::retire));
}

}  // namespace smarthost::admin
