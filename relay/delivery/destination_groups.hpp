#pragma once
// Which destination group (core/shaping_config.hpp) a domain's mail belongs to: the group
// that lists the recipient domain, else the group whose MX suffix the domain's first MX
// host ends with (thousands of domains are hosted by Google or Microsoft under their own
// names). Pure: the MX hosts come in, already looked up.

#include <string>
#include <string_view>
#include <vector>

#include "core/shaping_config.hpp"

namespace smarthost::delivery {

class DestinationGroups {
  public:
    explicit DestinationGroups(std::vector<DestinationGroupConfig> groups);

    // The group listing `domain` (case-insensitive, a trailing dot ignored); null if none.
    const DestinationGroupConfig* for_domain(std::string_view domain) const;
    // The group with the longest suffix `host` ends with; null if none.
    const DestinationGroupConfig* for_mx_host(std::string_view host) const;
    // for_domain, else for_mx_host of the first of `mx_hosts` (in preference order).
    const DestinationGroupConfig* choose(std::string_view domain,
                                         const std::vector<std::string>& mx_hosts) const;
    // Whether any group has MX suffixes, so that choosing may need the MX lookup.
    bool has_mx_suffixes() const { return has_mx_suffixes_; }

    const DestinationGroupConfig* find(std::string_view name) const;
    const std::vector<DestinationGroupConfig>& all() const { return groups_; }

  private:
    std::vector<DestinationGroupConfig> groups_;
    bool has_mx_suffixes_ = false;
};

// Whether a connection that carried `sent` messages has done its share for `group`
// (messages_per_connection) and is to be closed; never without a group or a limit.
bool connection_spent(const DestinationGroupConfig* group, std::size_t sent);

}  // namespace smarthost::delivery
