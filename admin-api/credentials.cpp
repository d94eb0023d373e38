#include "admin-api/credentials.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "admin-api/accounts.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/scope_limits.hpp"
#include "core/crypto.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "relay/queue/holds.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_create_fields[] = {"username", "limits"};
constexpr std::string_view k_update_fields[] = {"limits"};

constexpr std::size_t k_username_max = 255;
// 24 characters of a 57-letter alphabet: about 140 bits.
constexpr std::size_t k_password_length = 24;

const std::string k_credential_json =
    "json_build_object('id', t.id, 'account_id', t.account_id, 'username', t.username, "
    "'enabled', t.enabled, 'created_at', t.created_at, 'last_used_at', t.last_used_at, "
    "'limits', " +
    rate_limits_json("") + ")";
constexpr std::string_view k_credential_audit =
    "jsonb_build_object('id', t.id, 'account_id', t.account_id, 'username', t.username)";

constexpr std::string_view k_insert_credential =
    "INSERT INTO credentials (account_id, username, secret_hash, messages_per_minute, "
    "messages_per_hour, messages_per_day, recipients_per_hour, recipients_per_day) "
    "VALUES ($5, $6, $7, $8::int, $9::int, $10::int, $11::int, $12::int) RETURNING *";

// $5 id, then a (present, value) pair per limit.
std::string update_limits_sql() {
    int index = 6;
    std::string sets = rate_limits_update_sql("", index);
    return "UPDATE credentials SET " + sets.substr(2) + " WHERE id = $5 RETURNING *";
}
const std::string k_update_limits = update_limits_sql();
constexpr std::string_view k_set_enabled =
    "UPDATE credentials SET enabled = $6 WHERE id = $5 RETURNING *";
constexpr std::string_view k_set_secret =
    "UPDATE credentials SET secret_hash = $6 WHERE id = $5 RETURNING *";
constexpr std::string_view k_delete_credential =
    "DELETE FROM credentials WHERE id = $5 RETURNING *";

struct NewSecret {
    std::string password;
    std::string hash;
};

// argon2id takes tens of milliseconds of CPU by design: never on the I/O thread.
asio::awaitable<NewSecret> new_secret(asio::any_io_executor hash_executor) {
    auto secret = co_await asio::co_spawn(
        hash_executor,
        []() -> asio::awaitable<NewSecret> {
            NewSecret made;
            made.password = crypto::random_password(k_password_length);
            made.hash = crypto::hash_password(made.password);
            co_return made;
        },
        asio::use_awaitable);
    co_return secret;
}

bool valid_username(std::string_view username) {
    for (const unsigned char c : username)
        if (c <= ' ' || c == 0x7f) return false;  // no spaces or controls: SASL PLAIN splits on NUL
    return true;
}

Response with_password(std::string_view credential_json, unsigned status,
                       const std::string& password) {
    auto value = json::parse(credential_json);
    value.as_object()["password"] = password;
    return json_response(status, json::serialize(value));
}

asio::awaitable<Response> run_change(RequestContext& context, unsigned status, std::string_view dml,
                                     std::vector<pg::Param> params,
                                     const std::string* password = nullptr) {
    auto statement =
        audited(context, status, dml, k_credential_audit, k_credential_json, std::move(params));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) {
        if (pg::classify(rows.error().code) == pg::SqlStateClass::unique_violation)
            co_return problem::conflict("this username is taken", "username", "already taken");
        if (pg::classify(rows.error().code) == pg::SqlStateClass::foreign_key_violation)
            co_return problem::not_found("no such account");
        co_return problem::from_database(rows.error());
    }
    if (rows->empty()) co_return problem::not_found("no such credential");
    if (password) co_return with_password(rows->get(0, 0), status, *password);
    co_return json_response(status, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> create_credential(RequestContext& context) {
    const auto account_id = context.id_param();
    if (!account_id) co_return problem::not_found("no such account");
    auto body = parse_object(context.request, k_create_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    const auto username = fields.string("username", k_username_max);
    if (!fields.has("username"))
        fields.fail("username", "is required");
    else if (username && !valid_username(*username))
        fields.fail("username", "must not contain spaces or control characters");
    const auto limits = read_rate_limits(fields, "limits");
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    const auto secret = co_await new_secret(context.hash_executor);
    auto params = params_of(*account_id, *username, secret.hash);
    for (const auto& limit : limits)
        params.push_back(limit && *limit ? pg::to_param(**limit) : pg::null_param());
    auto response =
        co_await run_change(context, 201, k_insert_credential, std::move(params), &secret.password);
    co_return response;
}

asio::awaitable<Response> get_credential(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such credential");
    auto rows = co_await context.pool.query(
        "SELECT " + k_credential_json + " FROM credentials t WHERE t.id = $1", *id);
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such credential");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

// The credential's own limits (docs/policy.md "Credential limits"): an absent limit keeps
// its value, null removes it.
asio::awaitable<Response> update_credential(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such credential");
    auto body = parse_object(context.request, k_update_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    const auto limits = read_rate_limits(fields, "limits");
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));
    auto params = params_of(*id);
    push_limit_params(limits, params);
    auto response = co_await run_change(context, 200, k_update_limits, std::move(params));
    co_return response;
}

asio::awaitable<Response> list_credentials(RequestContext& context) {
    auto response = co_await list_of_account(context, "credentials", k_credential_json);
    co_return response;
}

std::vector<pg::Statement> enabled_change(const RequestContext& context, std::int64_t id,
                                          bool enabled) {
    std::vector<pg::Statement> statements;
    statements.push_back(audited(context, 200, k_set_enabled, k_credential_audit, k_credential_json,
                                 params_of(id, enabled)));
    statements.push_back(pg::Statement{std::string(queue::reconcile_credential_hold_sql()),
                                       params_of(id, "api:" + context.token_name)});
    statements.push_back(pg::Statement{std::string(queue::start_hold_jobs_sql()), {}});
    return statements;
}

asio::awaitable<Response> set_enabled(RequestContext& context, bool enabled) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such credential");
    auto body = parse_object(context.request, k_no_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    // The credential's hold follows: its queued mail waits while it is disabled
    // (relay/queue/holds.hpp).
    auto results = co_await context.pool.transaction(enabled_change(context, *id, enabled));
    if (!results) co_return problem::from_database(results.error());
    if (results->front().empty()) co_return problem::not_found("no such credential");
    co_return json_response(200, std::string(results->front().get(0, 0)));
}

asio::awaitable<Response> disable_credential(RequestContext& context) {
    auto response = co_await set_enabled(context, false);
    co_return response;
}

asio::awaitable<Response> enable_credential(RequestContext& context) {
    auto response = co_await set_enabled(context, true);
    co_return response;
}

asio::awaitable<Response> rotate_credential(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such credential");
    auto body = parse_object(context.request, k_no_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    const auto secret = co_await new_secret(context.hash_executor);
    auto response = co_await run_change(context, 200, k_set_secret, params_of(*id, secret.hash),
                                        &secret.password);
    co_return response;
}

asio::awaitable<Response> delete_credential(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such credential");
    auto response = co_await run_change(context, 204, k_delete_credential, params_of(*id));
    if (response.status == 204) co_return no_content();
    co_return response;
}

}  // namespace

void add_credential_routes(Router& router) {
    router.add("GET", "/api/v1/accounts/{id}/credentials", list_credentials);
    router.add("POST", "/api/v1/accounts/{id}/credentials", create_credential);
    router.add("GET", "/api/v1/credentials/{id}", get_credential);
    router.add("PATCH", "/api/v1/credentials/{id}", update_credential);
    router.add("POST", "/api/v1/credentials/{id}/disable", disable_credential);
    router.add("POST", "/api/v1/credentials/{id}/enable", enable_credential);
    router.add("POST", "/api/v1/credentials/{id}/rotate", rotate_credential);
    router.add("DELETE", "/api/v1/credentials/{id}", delete_credential);
}

}  // namespace smarthost::admin
