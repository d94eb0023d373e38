#pragma once
// Which domains an account may send as (DESIGN.md "sender_domains"): the envelope
// sender's domain and the From: header's domains must each match one of them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/dkim/signature_fields.hpp"
#include "relay/policy/dkim_policy.hpp"

namespace smarthost::policy {

// An active DKIM key of a sender domain, its private half still sealed.
struct DkimKeyRef {
    std::int64_t id = 0;
    std::string selector;
    dkim::Algorithm algorithm = dkim::Algorithm::rsa_sha256;
    std::string sealed;      // dkim_keys.private_key_sealed
    bool published = false;  // dns_status 'published'
};

struct SenderDomain {
    SenderDomain() = default;
    SenderDomain(std::string domain_in, bool include_subdomains_in, bool verified_in)
        : domain(std::move(domain_in)),
          include_subdomains(include_subdomains_in),
          verified(verified_in) {}

    std::string domain;  // lower case, as stored
    bool include_subdomains = false;
    bool verified = false;  // status 'verified' (docs/policy.md "Domain verification")
    std::int64_t id = 0;
    DkimPolicy dkim_policy = DkimPolicy::verified;
    std::vector<DkimKeyRef> dkim_keys;  // the active ones
};

// The domain of an address ("Local@Shop.Example." → "shop.example"): after the last '@',
// lower-cased, without a trailing root dot. Empty when there is no '@'.
std::string domain_of(std::string_view address);

// Whether `domain` (lower case) is `entry.domain`, or below it when the entry includes
// subdomains. Only verified entries count when `require_verified`.
bool domain_matches(const SenderDomain& entry, std::string_view domain, bool require_verified);
bool domain_authorized(const std::vector<SenderDomain>& entries, std::string_view domain,
                       bool require_verified);

}  // namespace smarthost::policy
