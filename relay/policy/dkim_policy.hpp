#pragma once
// A sender domain's DKIM signing policy, as the policy code names it: the one enum of
// relay/dkim/signing_policy.hpp (docs/dkim.md).

#include <optional>
#include <string_view>

#include "relay/dkim/signing_policy.hpp"

namespace smarthost::policy {

using DkimPolicy = dkim::SigningPolicy;
using dkim::to_string;

inline std::optional<DkimPolicy> parse_dkim_policy(std::string_view text) {
    return dkim::parse_signing_policy(text);
}

}  // namespace smarthost::policy
