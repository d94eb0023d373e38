#pragma once
// Where mail for a domain goes, decided from DNS answers (RFC 5321 5.1, RFC 7505).
// Pure: the answers come in, the plan comes out; the randomness is injected.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "relay/dns/answers.hpp"

namespace smarthost::dns {

class AddressPolicy;

enum class Verdict {
    proceed,  // go on: try the hosts / addresses
    defer,    // temporary: try again later (4.x.x)
    bounce,   // permanent: return to sender (5.x.x)
};

struct MxHost {
    std::string name;
    std::uint16_t preference = 0;
    bool implicit = false;  // no MX records: the domain itself (RFC 5321 5.1)
    bool operator==(const MxHost&) const = default;
};

struct MxPlan {
    Verdict verdict = Verdict::defer;
    std::vector<MxHost> hosts;    // in the order to try; only when proceeding
    std::string enhanced_status;  // RFC 3463 code when not proceeding: "5.1.10"
    std::string reason;           // for the DSN's Diagnostic-Code and the events row
};

// From the MX lookup of `domain`: hosts by ascending preference, equal preferences in
// random order (RFC 5321 5.1 "SHOULD randomize"), duplicates dropped. NODATA → the domain
// as implicit MX; a null MX ("0 .") → bounce 5.1.10 (RFC 7505 3.2: "." entries next to
// real MX records are ignored); NXDOMAIN → bounce 5.1.2; SERVFAIL, timeout or a lookup
// error → defer 4.4.3.
MxPlan plan_mx(std::string_view domain, const Result<MxAnswer>& answer, std::mt19937_64& random);

struct HostTargets {
    Verdict verdict = Verdict::defer;
    std::vector<std::string> addresses;  // allowed by the policy, in the answer's order
    std::vector<std::string> refused;    // the policy's reasons, one per refused address
    std::string enhanced_status;         // when not proceeding
    std::string reason;
};

// From the address lookup of one MX host: the addresses to connect to. A name with no
// address, or only refused addresses, is a permanent failure of this host (5.4.4, or
// 5.1.2 for an implicit MX whose name has gone); a lookup failure is temporary (4.4.3).
// Whether the whole domain then bounces or defers is the caller's decision across hosts.
HostTargets plan_host(const MxHost& host, const Result<AddressAnswer>& answer,
                      const AddressPolicy& policy);

}  // namespace smarthost::dns
