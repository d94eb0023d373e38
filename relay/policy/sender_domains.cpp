#include "relay/policy/sender_domains.hpp"

#include <algorithm>

#include "core/ascii.hpp"

namespace smarthost::policy {

std::string domain_of(std::string_view address) {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) return {};
    std::string domain = to_lower(address.substr(at + 1));
    if (!domain.empty() && domain.back() == '.') domain.pop_back();
    return domain;
}

bool domain_matches(const SenderDomain& entry, std::string_view domain, bool require_verified) {
    if (require_verified && !entry.verified) return false;
    if (domain.empty() || entry.domain.empty()) return false;
    if (domain == entry.domain) return true;
    // "mail.shop.example" is below "shop.example"; "badshop.example" is not.
    return entry.include_subdomains && domain.size() > entry.domain.size() + 1 &&
           domain.ends_with(entry.domain) && domain[domain.size() - entry.domain.size() - 1] == '.';
}

bool domain_authorized(const std::vector<SenderDomain>& entries, std::string_view domain,
                       bool require_verified) {
    return std::any_of(entries.begin(), entries.end(), [&](const SenderDomain& entry) {
        return domain_matches(entry, domain, require_verified);
    });
}

}  // namespace smarthost::policy
