#pragma once
// What the submission path needs to know about an account, loaded in one or two queries and
// cached for a few seconds (relay/policy/account_policies.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/policy/content_scan.hpp"
#include "relay/policy/sender_domains.hpp"

namespace smarthost::policy {

// Limits of the rate_limiter's kinds (rate_windows.hpp); unset: none of this kind.
struct ScopeLimits {
    std::optional<std::uint64_t> messages_per_minute;
    std::optional<std::uint64_t> messages_per_hour;
    std::optional<std::uint64_t> messages_per_day;
    std::optional<std::uint64_t> recipients_per_hour;
    std::optional<std::uint64_t> recipients_per_day;
    bool any() const {
        return messages_per_minute || messages_per_hour || messages_per_day ||
               recipients_per_hour || recipients_per_day;
    }
};

// A credential of the account that has limits of its own (credentials columns).
struct CredentialLimits {
    std::int64_t credential_id = 0;
    std::string username;
    ScopeLimits limits;
};

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
    // Only the credentials that have a limit: none, the common case, costs nothing.
    std::vector<CredentialLimits> credential_limits;
    // The trusted sub-user header (docs/policy.md "Sub-users"); empty: none is trusted.
    std::string sub_user_header;
    bool strip_sub_user_header = true;
    ScopeLimits sub_user_limits;         // each sub-user's
    std::uint64_t max_sub_users = 1000;  // distinct sub-users holding quota in one window

    const CredentialLimits* limits_of_credential(std::optional<std::int64_t> credential_id) const {
        if (!credential_id) return nullptr;
        for (const auto& credential : credential_limits)
            if (credential.credential_id == *credential_id) return &credential;
        return nullptr;
    }
    // The account's active holds (docs/abuse.md): what each holds and how many recipients
    // wait under it, counted up to a bound (AccountPolicies::get's `held_bound`).
    struct ActiveHold {
        std::optional<std::int64_t> credential_id;  // neither this nor sub_user: the account
        std::string sub_user;
        std::uint64_t held = 0;
    };
    std::vector<ActiveHold> active_holds;
    // Content scanning (docs/scanning.md); unset: the [scanning] defaults.
    std::optional<bool> scan_enabled;
    ScanThresholds scan_thresholds;
};

}  // namespace smarthost::policy
