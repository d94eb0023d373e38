#pragma once
// Who a session sends as: the account of an authenticated credential or of the
// allow-listed network the client connected from.

#include <cstdint>
#include <optional>
#include <string>

namespace smarthost::ingress {

struct Identity {
    std::int64_t account_id = 0;
    std::string account_name;
    std::optional<std::int64_t> credential_id;  // empty for allow-listed networks
    std::string username;                       // empty for allow-listed networks
    // The credential's stored secret hash when the session logged in: a rotated password
    // changes it, so the session can tell its login no longer holds.
    std::string credential_secret;
};

}  // namespace smarthost::ingress
