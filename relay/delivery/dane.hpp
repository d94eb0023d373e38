#pragma once
// DANE for SMTP (RFC 7672): what the DNSSEC state of an MX host's records and its TLSA
// records mean for the connection to it. Pure: the answers come in, the decision comes
// out; relay/delivery/domain_delivery does the lookups and smtp_client the TLS.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "relay/dns/answers.hpp"

namespace smarthost::delivery {

// Most TLSA records used for one host: each is a digest (or a certificate) compared with
// every certificate of the chain, so a hostile zone could otherwise make every handshake
// do unbounded work. The rest are ignored, in the order DNS gave them.
inline constexpr std::size_t k_max_tlsa_records = 16;

struct DaneDecision {
    enum class Kind {
        ordinary,         // insecure, or securely no TLSA: the domain's usual TLS policy
        authenticated,    // TLS required, the certificate matched against `records`
        unauthenticated,  // TLS required, certificate unchecked: no record is usable
        defer,            // the TLSA lookup failed: this host is not used now
    };
    Kind kind = Kind::ordinary;
    std::vector<dns::TlsaRecord> records;  // usable ones, for `authenticated`
    std::string reason;                    // for `defer`: why, naming DANE
};

// RFC 7672 section 2.2: TLSA records are looked up only when the MX answer (or its
// secure denial, for an implicit MX) and the host's address records are all validated.
bool needs_tlsa_lookup(bool mx_secure, bool addresses_secure);

// "_25._tcp.mx.example.com": the TLSA name of the port the client connects to (RFC 6698
// section 3, RFC 7672 section 2.2.3).
std::string tlsa_name(std::string_view host, std::uint16_t port);

// RFC 7672 section 3.1.3: PKIX-TA(0) and PKIX-EE(1) are not used for SMTP; records with
// usages, selectors or matching types this code does not know are unusable (RFC 6698
// section 4.1), like ones whose association data cannot be what the type says.
bool usable_for_smtp(const dns::TlsaRecord& record);

// From the TLSA lookup of one host whose MX and address answers were secure (RFC 7672
// section 2.2): a secure answer with usable records → authenticated; a secure answer with
// records, none usable → unauthenticated (TLS still mandatory); a secure denial or an
// insecure answer → ordinary; SERVFAIL, bogus, a timeout or a lookup error → defer.
DaneDecision decide_dane(const Result<dns::TlsaAnswer>& answer, std::string_view name);

}  // namespace smarthost::delivery
