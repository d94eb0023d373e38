#pragma once
// A sender domain's DKIM signing policy (sender_domains.dkim_policy, docs/dkim.md): never
// sign; sign with the active keys whose published record matches (the default); sign with
// the active keys whatever DNS shows. Pure; the key routes, the signer and the health
// check share it.

#include <optional>
#include <string_view>

namespace smarthost::dkim {

enum class SigningPolicy { off, verified, always };
const char* to_string(SigningPolicy policy);
std::optional<SigningPolicy> parse_signing_policy(std::string_view text);

}  // namespace smarthost::dkim
