#pragma once
// Webhook signatures in the style of Standard Webhooks (standardwebhooks.com): the
// receiver gets `webhook-id`, `webhook-timestamp` (Unix seconds) and
// `webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, where
// the key is the octets behind the endpoint's secret "whsec_<base64>". Signing over the
// timestamp lets a receiver refuse replays of old requests; over the id, lets it drop
// duplicates (delivery is at least once). Pure except generate_secret (randomness).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smarthost::events {

inline constexpr std::string_view k_secret_prefix = "whsec_";

// "whsec_" + base64 of 32 random octets (libsodium randombytes).
std::string generate_secret();

// The key octets of a "whsec_<base64>" secret; nullopt when it is not one.
std::optional<std::string> secret_key(std::string_view secret);

// The webhook-signature header value: "v1," + base64(HMAC-SHA256(key, id.timestamp.body)).
std::string sign(std::string_view key, std::string_view id, std::int64_t timestamp,
                 std::string_view body);

}  // namespace smarthost::events
