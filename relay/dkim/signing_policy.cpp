#include "relay/dkim/signing_policy.hpp"

namespace smarthost::dkim {

const char* to_string(SigningPolicy policy) {
    switch (policy) {
        case SigningPolicy::off:
            return "off";
        case SigningPolicy::always:
            return "always";
        case SigningPolicy::verified:
            break;
    }
    return "verified";
}

std::optional<SigningPolicy> parse_signing_policy(std::string_view text) {
    if (text == "off") return SigningPolicy::off;
    if (text == "verified") return SigningPolicy::verified;
    if (text == "always") return SigningPolicy::always;
    return std::nullopt;
}

}  // namespace smarthost::dkim
