#pragma once
// The health of a sender domain (docs/domain-health.md): whether mail this relay sends
// for it is DKIM-signed with a published key, authorized by its SPF record, and would
// pass its DMARC policy; each problem as a code and a sentence the customer can act on.
// Pure: the domain's keys and the DNS answers come in (the I/O side, domain_health_check,
// looks up what `DomainHealth::missing` asks for and decides again).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/network.hpp"
#include "relay/policy/dkim_policy.hpp"
#include "relay/policy/dmarc.hpp"
#include "relay/policy/dns_facts.hpp"
#include "relay/policy/spf.hpp"

namespace smarthost::policy {

class PublicSuffixList;

// Every code a finding may carry, for the metrics' series and the docs.
namespace health_code {
inline constexpr std::string_view dkim_signing_off = "dkim_signing_off";
inline constexpr std::string_view dkim_no_active_key = "dkim_no_active_key";
inline constexpr std::string_view dkim_record_missing = "dkim_record_missing";
inline constexpr std::string_view dkim_record_mismatch = "dkim_record_mismatch";
inline constexpr std::string_view spf_missing = "spf_missing";
inline constexpr std::string_view spf_multiple = "spf_multiple";
inline constexpr std::string_view spf_invalid = "spf_invalid";
inline constexpr std::string_view spf_lookup_limit = "spf_lookup_limit";
inline constexpr std::string_view spf_does_not_authorize_relay = "spf_does_not_authorize_relay";
inline constexpr std::string_view spf_unverifiable = "spf_unverifiable";
inline constexpr std::string_view dmarc_missing = "dmarc_missing";
inline constexpr std::string_view dmarc_invalid = "dmarc_invalid";
inline constexpr std::string_view dmarc_policy_none = "dmarc_policy_none";
inline constexpr std::string_view dmarc_would_fail = "dmarc_would_fail";
inline constexpr std::string_view dns_unavailable = "dns_unavailable";
}  // namespace health_code
const std::vector<std::string_view>& all_health_codes();

struct DkimKeyFacts {
    std::string selector;
    std::string algorithm;   // "rsa-sha256", "ed25519-sha256"
    std::string public_key;  // base64, the p= to publish
    bool active = false;     // signing (else created: waiting for activation)
};

// What <selector>._domainkey.<domain> holds for a key.
enum class DkimRecordStatus { published, missing, mismatch, unavailable };
const char* to_string(DkimRecordStatus status);

// Compares the published records at the key's name with the key.
DkimRecordStatus dkim_record_status(const dns::TxtAnswer& answer, std::string_view public_key);

// The relay as receivers see it: the addresses it delivers from ([delivery]
// source_address) and the SPF include name operators publish for it (e.g.
// "_spf.relay.example"). Either may be empty; both empty: SPF authorization is unknown.
struct RelayIdentity {
    std::vector<Network> outbound_addresses;
    std::string spf_include;
};

// From configuration values: source addresses as written in [delivery] source_address
// (empty ones skipped) and the include name. nullopt when an address is not an IPv4 or
// IPv6 address (a CIDR is not one address either).
std::optional<RelayIdentity> relay_identity(const std::vector<std::string>& source_addresses,
                                            std::string spf_include);

struct DomainHealthInput {
    std::string domain;  // the sender domain: the DKIM d= and the envelope sender's domain
    // The From: domain judged for DMARC; empty: the domain itself. A subdomain here checks
    // the parent's key and SPF for mail from the subdomain (relaxed alignment).
    std::string from_domain;
    DkimPolicy dkim_policy = DkimPolicy::verified;
    std::vector<DkimKeyFacts> keys;  // the non-retired keys
};

enum class Severity { problem, info };
const char* to_string(Severity severity);

struct HealthFinding {
    std::string code;  // one of health_code
    Severity severity = Severity::problem;
    std::string message;  // a sentence the customer can act on
    std::string record;   // the DNS name concerned, when there is one
    bool operator==(const HealthFinding&) const = default;
};

struct DkimKeyHealth {
    std::string selector;
    std::string algorithm;
    bool active = false;
    std::string record_name;
    DkimRecordStatus status = DkimRecordStatus::unavailable;
};

struct DomainHealth {
    std::string domain;
    std::string from_domain;
    bool dkim_aligned = false;
    bool spf_aligned = false;
    bool dmarc_pass = false;

    std::vector<DkimKeyHealth> keys;
    std::optional<std::string> spf_record;   // the domain's SPF record, when there is one
    SpfResult spf_result = SpfResult::none;  // for the relay (pass: authorized)
    std::string spf_reason;
    std::optional<std::string> dmarc_record;
    std::string dmarc_record_name;            // where it was found (or first looked for)
    std::optional<DmarcPolicy> dmarc_policy;  // the one applying to from_domain
    Alignment dkim_alignment = Alignment::relaxed;
    Alignment spf_alignment = Alignment::relaxed;

    std::vector<HealthFinding> findings;
    // DNS questions the decision needs and the facts lack; the answer above is
    // provisional while this is not empty.
    std::vector<DnsQuestion> missing;

    bool has(std::string_view code) const;
};

// Decides the health from the input and the DNS answers known so far.
DomainHealth assess_domain_health(const DomainHealthInput& input, const RelayIdentity& relay,
                                  const DnsFacts& facts, const PublicSuffixList& suffixes);

}  // namespace smarthost::policy
