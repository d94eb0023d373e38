#pragma once
// Admin API tokens: "sht_" + 32 random bytes (base64url). Only their SHA-256 is stored;
// a request's token is found by looking its digest up, so no stored secret is ever
// compared byte by byte with attacker-controlled input.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
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
