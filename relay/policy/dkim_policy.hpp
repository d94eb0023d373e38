#pragma once
// A sender domain's DKIM signing policy (sender_domains.dkim_policy, docs/dkim.md): never
// sign; sign with the active keys whose published record matches (the default); sign
// with the active keys whatever DNS shows. Pure.

#include <optional>
#include <string_view>

namespace smarthost::policy {

enum class DkimPolicy { off, verified, always };
const char* to_string(DkimPolicy policy);
std::optional<DkimPolicy> parse_dkim_policy(std::string_view text);

}  // namespace smarthost::policy
