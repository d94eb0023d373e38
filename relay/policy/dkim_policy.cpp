#include "relay/policy/dkim_policy.hpp"

namespace smarthost::policy {

const char* to_string(DkimPolicy policy) {
    switch (policy) {
        case DkimPolicy::off:
            return "off";
        case DkimPolicy::always:
            return "always";
        case DkimPolicy::verified:
            break;
    }
    return "verified";
}

std::optional<DkimPolicy> parse_dkim_policy(std::string_view text) {
    if (text == "off") return DkimPolicy::off;
    if (text == "verified") return DkimPolicy::verified;
    if (text == "always") return DkimPolicy::always;
    return std::nullopt;
}

}  // namespace smarthost::policy
