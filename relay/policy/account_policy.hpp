#pragma once
// What the submission path needs to know about an account, loaded in one query and
// cached for a few seconds (relay/policy/account_policies.hpp).

#include <cstdint>
#include <string>
#include <vector>

#include "relay/policy/sender_domains.hpp"

namespace smarthost::policy {

struct AccountPolicy {
    std::int64_t account_id = 0;
    std::string name;
    bool exists = true;  // false: deleted while a session was using it
    bool suspended = false;
    std::string suspended_reason;
    bool may_send_null_sender = false;
    std::vector<SenderDomain> sender_domains;
    // Whether the account has any suppressed address: when it has none, RCPT needs no
    // database round trip.
    bool has_suppressions = false;
};

}  // namespace smarthost::policy
