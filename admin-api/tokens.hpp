#pragma once
// Admin API tokens: "sht_" + 32 random bytes (base64url). Only their SHA-256 is stored;
// a request's token is found by looking its digest up, so no stored secret is ever
// compared byte by byte with attacker-controlled input.

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "admin-api/http_message.hpp"
#include "admin-api/router.hpp"
#include "core/result.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::admin {

// For `smarthost token create --name NAME`: stores a new token's digest under `name` and
// returns the token, which is shown once and never stored. A taken name is an Error with
// code 23505.
boost::asio::awaitable<Result<std::string>> create_api_token(pg::Pool& pool, std::string name);

// Tokens brought from elsewhere (`smarthost token import`, e.g. a Kubernetes Secret) are
// at least this long, so they are no easier to guess than a created one.
constexpr std::size_t k_min_imported_token_length = 32;

// Why `token` cannot be imported, or nullopt when it can: at least
// k_min_imported_token_length characters, all of RFC 6750's b64token set (ALPHA DIGIT
// - . _ ~ + /, then optional trailing =), since it travels in an Authorization header.
// The reason names positions, never the token's characters.
std::optional<std::string> imported_token_problem(std::string_view token);

// What `import_api_token` found. `id` is the new row's, or that of the row in the way.
struct TokenImport {
    enum class Outcome {
        registered,           // stored now
        registered_already,   // the same token under the same name (a rerun): nothing done
        name_taken,           // the name belongs to another token
        registered_as_other,  // this token is stored under another name, `existing_name`
    };
    Outcome outcome = Outcome::registered;
    std::int64_t id = 0;
    std::string existing_name;
    bool revoked = false;  // the row in the way (or the matching one) is revoked
};

// For `smarthost token import`: stores the digest of a token the operator chose (checked
// with imported_token_problem first) under `name`, unless that name or token exists.
// Safe to run concurrently: a racing import of the same pair waits for the other and
// finds it registered.
boost::asio::awaitable<Result<TokenImport>> import_api_token(pg::Pool& pool, std::string name,
                                                             std::string token);

struct TokenIdentity {
    std::int64_t id = 0;
    std::string name;
};

// The token of an `Authorization: Bearer …` header, or the 401 (503 when the database
// is down) to answer. Marks the token used.
boost::asio::awaitable<std::variant<TokenIdentity, Response>> authenticate(
    pg::Pool& pool, std::string_view authorization);

void add_token_routes(Router& router);

}  // namespace smarthost::admin
