#include "admin-api/tokens.hpp"

#include <sodium.h>

#include <array>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <vector>

#include "admin-api/audit.hpp"
#include "admin-api/pagination.hpp"
#include "core/ascii.hpp"
#include "core/crypto.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

constexpr std::string_view k_token_prefix = "sht_";
constexpr std::size_t k_token_random_bytes = 32;

constexpr std::string_view k_insert_token =
    "INSERT INTO api_tokens (name, token_sha256) VALUES ($1, $2) RETURNING id";

// An import that meets either unique constraint inserts nothing; when the row in the way
// is still uncommitted (a concurrent import), the INSERT waits for it. The SELECT, a new
// snapshot under READ COMMITTED, then sees what is in the way: the matching token first.
constexpr std::string_view k_import_token =
    "INSERT INTO api_tokens (name, token_sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING "
    "RETURNING id";
constexpr std::string_view k_tokens_in_the_way = R"sql(
SELECT id, name, token_sha256 = $2, revoked_at IS NOT NULL
  FROM api_tokens
 WHERE name = $1 OR token_sha256 = $2
 ORDER BY token_sha256 = $2 DESC)sql";

// Marks the token used only while it is valid: a revoked token's last use stays the last
// time it worked.
constexpr std::string_view k_find_token = R"sql(
UPDATE api_tokens
   SET last_used_at = CASE WHEN revoked_at IS NULL THEN now() ELSE last_used_at END
 WHERE token_sha256 = $1
RETURNING id, name, revoked_at IS NOT NULL, encode(token_sha256, 'hex'))sql";

constexpr std::string_view k_token_json =
    "json_build_object('id', t.id, 'name', t.name, 'created_at', t.created_at, "
    "'last_used_at', t.last_used_at, 'revoked', t.revoked_at IS NOT NULL, "
    "'revoked_at', t.revoked_at)";

std::string digest_bytes(std::string_view token) {
    const auto digest = crypto::sha256(token);
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token_character(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

// A character of a token named without showing it, except for the invisible ones that
// slip into Secrets (`echo` adds a line break).
std::string describe_character(char c, std::size_t position) {
    std::string where = "character " + std::to_string(position + 1);
    switch (c) {
        case '\n':
            return where + " is a line break";
        case '\r':
            return where + " is a carriage return";
        case '\t':
            return where + " is a tab";
        case ' ':
            return where + " is a space";
        default:
            return where + " is not allowed";
    }
}

std::string hex(std::string_view bytes) {
    std::string out(bytes.size() * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                   bytes.size());
    out.pop_back();
    return out;
}

// "Bearer <token>"; the scheme is case-insensitive (RFC 9110 §11.1).
std::string_view bearer_token(std::string_view authorization) {
    constexpr std::string_view scheme = "bearer ";
    if (authorization.size() <= scheme.size() || !istarts_with(authorization, scheme)) return {};
    auto token = authorization.substr(scheme.size());
    while (!token.empty() && token.front() == ' ')
        token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ')
        token.remove_suffix(1);
    return token;
}

asio::awaitable<Response> list_tokens(RequestContext& context) {
    std::vector<FieldError> errors;
    const auto page = read_page(parse_query(context.request.query), errors);
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(
        "SELECT " + std::string(k_token_json) +
            ", t.id FROM api_tokens t WHERE ($1::bigint IS NULL OR t.id > $1) "
            "ORDER BY t.id LIMIT $2",
        page.cursor, page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

asio::awaitable<Response> revoke_token(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such token");
    auto statement =
        audited(context, 200,
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $5 "
                "RETURNING *",
                "jsonb_build_object('id', t.id, 'name', t.name)", k_token_json, params_of(*id));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such token");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

}  // namespace

asio::awaitable<Result<std::string>> create_api_token(pg::Pool& pool, std::string name) {
    crypto::init();
    std::array<unsigned char, k_token_random_bytes> random{};
    randombytes_buf(random.data(), random.size());
    std::string encoded(
        sodium_base64_ENCODED_LEN(random.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
    sodium_bin2base64(encoded.data(), encoded.size(), random.data(), random.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    encoded.resize(std::strlen(encoded.c_str()));
    std::string token = std::string(k_token_prefix) + encoded;
    sodium_memzero(random.data(), random.size());

    auto rows =
        co_await pool.query(std::string(k_insert_token), name, pg::bytes(digest_bytes(token)));
    if (!rows) co_return rows.error();
    co_return token;
}

std::optional<std::string> imported_token_problem(std::string_view token) {
    if (token.size() < k_min_imported_token_length)
        return "the token is " + std::to_string(token.size()) + " characters long; at least " +
               std::to_string(k_min_imported_token_length) + " are required";
    const auto padding = token.find_last_not_of('=') + 1;  // 0 when all '='
    if (padding == 0) return std::string("the token consists of '=' only");
    for (std::size_t i = 0; i < padding; ++i)
        if (!is_b64token_character(token[i]))
            return describe_character(token[i], i) +
                   ": a bearer token holds only A-Z a-z 0-9 - . _ ~ + / and '=' at its end "
                   "(RFC 6750)";
    return std::nullopt;
}

asio::awaitable<Result<TokenImport>> import_api_token(pg::Pool& pool, std::string name,
                                                      std::string token) {
    const auto digest = digest_bytes(token);
    sodium_memzero(token.data(), token.size());
    std::vector<pg::Statement> statements;
    statements.push_back({std::string(k_import_token), {pg::text(name), pg::bytes(digest)}});
    statements.push_back({std::string(k_tokens_in_the_way), {pg::text(name), pg::bytes(digest)}});
    auto results = co_await pool.transaction(std::move(statements));
    if (!results) co_return results.error();
    TokenImport found;
    const auto& inserted = (*results)[0];
    if (!inserted.empty()) {
        found.id = inserted.get_int(0, 0);
        co_return found;
    }
    const auto& in_the_way = (*results)[1];
    if (in_the_way.empty())
        co_return Error{
            "the token's row changed while it was imported; run the import again", {}, false};
    found.id = in_the_way.get_int(0, 0);
    found.existing_name = std::string(in_the_way.get(0, 1));
    found.revoked = in_the_way.get_bool(0, 3);
    if (!in_the_way.get_bool(0, 2))
        found.outcome = TokenImport::Outcome::name_taken;
    else if (found.existing_name == name)
        found.outcome = TokenImport::Outcome::registered_already;
    else
        found.outcome = TokenImport::Outcome::registered_as_other;
    co_return found;
}

asio::awaitable<std::variant<TokenIdentity, Response>> authenticate(
    pg::Pool& pool, std::string_view authorization) {
    if (authorization.empty())
        co_return problem::unauthorized("an Authorization: Bearer token is required");
    const auto token = bearer_token(authorization);
    if (token.empty()) co_return problem::unauthorized("the Authorization scheme must be Bearer");
    const auto digest = digest_bytes(token);
    auto rows = co_await pool.query(std::string(k_find_token), pg::bytes(digest));
    if (!rows) {
        if (rows.error().unavailable) co_return problem::unavailable();
        co_return problem::from_database(rows.error());
    }
    if (rows->empty()) co_return problem::unauthorized("the token is not valid");
    // The lookup already matched the digest; comparing again in constant time guards
    // against a lookup that ever matched loosely (collation, truncation).
    const auto expected = hex(digest);
    const auto stored = rows->get(0, 3);
    if (stored.size() != expected.size() ||
        sodium_memcmp(stored.data(), expected.data(), expected.size()) != 0)
        co_return problem::unauthorized("the token is not valid");
    if (rows->get_bool(0, 2)) co_return problem::unauthorized("the token has been revoked");
    co_return TokenIdentity{rows->get_int(0, 0), std::string(rows->get(0, 1))};
}

void add_token_routes(Router& router) {
    router.add("GET", "/api/v1/tokens", list_tokens);
    router.add("POST", "/api/v1/tokens/{id}/revoke", revoke_token);
}

}  // namespace smarthost::admin
