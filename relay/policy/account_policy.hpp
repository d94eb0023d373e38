#pragma once
// What the submission path needs to know about an account, loaded in one or two queries and
// cached for a few seconds (relay/policy/account_policies.hpp).

#include <cstdint>
#include <optional>
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
    // The account's own rate limits (accounts columns); unset: the configured default.
    std::optional<std::uint64_t> messages_per_minute;
    std::optional<std::uint64_t> messages_per_hour;
    std::optional<std::uint64_t> messages_per_day;
    std::optional<std::uint64_t> recipients_per_hour;
    std::optional<std::uint64_t> recipients_per_day;
    std::optional<std::uint64_t> recipients_per_message;
    std::optional<std::uint64_t> max_message_bytes;
    std::optional<std::uint64_t> max_connections;  // concurrent sessions, all replicas
};

}  // namespace smarthost::policy
