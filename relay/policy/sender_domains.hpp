#pragma once
// Which domains an account may send as (DESIGN.md "sender_domains"): the envelope
// sender's domain and the From: header's domains must each match one of them.

#include <string>
#include <string_view>
#include <vector>

namespace smarthost::policy {

struct SenderDomain {
    std::string domain;  // lower case, as stored
    bool include_subdomains = false;
    bool verified = false;  // status 'verified' (docs/policy.md "Domain verification")
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
