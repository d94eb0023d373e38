#pragma once
// MTA-STS (RFC 8461), the pure part: the `_mta-sts.DOMAIN` TXT record, the policy file
// served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, MX pattern matching, when to
// fetch a policy again, and what a policy means for one MX host. No I/O, no clock: the
// fetcher (mta_sts_fetch) and the cache (mta_sts_cache) do those and call in here.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace smarthost::delivery::mta_sts {

inline constexpr std::size_t k_max_policy_bytes = 64 * 1024;          // RFC 8461 3.3
inline constexpr std::uint32_t k_max_age_limit_seconds = 31'557'600;  // RFC 8461 3.2
inline constexpr std::size_t k_max_mx_patterns = 100;                 // bounds the cached row
inline constexpr std::size_t k_max_id_length = 32;  // RFC 8461 3.1: 1*32(ALPHA / DIGIT)

enum class Mode { enforce, testing, none };

std::string_view mode_name(Mode mode);
std::optional<Mode> mode_from_name(std::string_view name);

struct Policy {
    Mode mode = Mode::none;
    std::vector<std::string> mx;  // lower-cased patterns: "mail.example.net", "*.example.net"
    std::uint32_t max_age_seconds = 0;
    bool operator==(const Policy&) const = default;
};

// RFC 8461 3.1: of the TXT records of `_mta-sts.DOMAIN`, those not starting with
// "v=STSv1" are discarded; unless exactly one is left and it is well-formed with an `id`,
// the domain has no policy (nullopt). Unknown fields are ignored.
std::optional<std::string> policy_id(const std::vector<std::string>& txt_records);

// RFC 8461 3.2: "key: value" lines (CRLF or LF), `version: STSv1`, `mode`, `max_age`
// (at most 31557600 s) and, unless the mode is none, one or more `mx` patterns. Unknown
// keys are ignored; of a repeated key other than mx the first counts. At most
// k_max_policy_bytes and k_max_mx_patterns. An Error says what is wrong.
Result<Policy> parse_policy(std::string_view body);

// The HTTPS answer: 200 only (RFC 8461 3.3: redirects are not followed), Content-Type
// text/plain (parameters allowed), then parse_policy.
Result<Policy> policy_from_response(int status, std::string_view content_type,
                                    std::string_view body);

// RFC 8461 4.1: "mail.example.net" matches itself; "*.example.net" matches exactly one
// further leftmost label ("a.example.net", not "example.net" nor "a.b.example.net").
// Case-insensitive; a trailing dot on the host is ignored.
bool mx_matches(std::string_view pattern, std::string_view host);
bool mx_allowed(const Policy& policy, std::string_view host);

// A policy as stored: its id (from the TXT record) and when it stops being valid.
struct CachedPolicy {
    std::string id;
    Policy policy;
    std::chrono::system_clock::time_point fetched_at;
    std::chrono::system_clock::time_point expires_at;  // fetched_at + max_age
};

enum class Refresh {
    use_cached,  // the cached policy is current
    fetch,       // fetch the policy (and fall back to an unexpired cached one on failure)
    no_policy,   // no TXT record and nothing cached: no MTA-STS for this domain
};

// RFC 8461 5.1: fetch when the TXT id differs from the cached policy's or the cached one
// has expired; without a TXT record an unexpired cached policy still applies.
Refresh refresh_for(const std::optional<CachedPolicy>& cached,
                    const std::optional<std::string>& txt_id,
                    std::chrono::system_clock::time_point now);

// What a policy means for one MX host of the domain (RFC 8461 4.2, 5).
enum class HostVerdict {
    as_usual,  // no policy, mode none, or testing: the usual TLS policy
    verify,    // enforce and the host matches: STARTTLS with chain and host name verified
    skip,      // enforce and the host does not match: not used
};

struct HostDecision {
    HostVerdict verdict = HostVerdict::as_usual;
    bool testing_mismatch = false;  // testing mode and the host does not match: reported only
    std::string reason;             // for skip: "MTA-STS policy of DOMAIN does not list HOST"
};

HostDecision decide_host(const std::optional<Policy>& policy, std::string_view domain,
                         std::string_view host);

}  // namespace smarthost::delivery::mta_sts
