#include "relay/delivery/destination_groups.hpp"

#include "core/ascii.hpp"

namespace smarthost::delivery {
namespace {

std::string normalized(std::string_view name) {
    std::string lower = to_lower(std::string(name));
    if (!lower.empty() && lower.back() == '.') lower.pop_back();
    return lower;
}

}  // namespace

DestinationGroups::DestinationGroups(std::vector<DestinationGroupConfig> groups)
    : groups_(std::move(groups)) {
    for (const auto& group : groups_)
        has_mx_suffixes_ |= !group.mx_suffixes.empty();
}

const DestinationGroupConfig* DestinationGroups::for_domain(std::string_view domain) const {
    const std::string name = normalized(domain);
    for (const auto& group : groups_)
        for (const auto& listed : group.domains)
            if (listed == name) return &group;
    return nullptr;
}

const DestinationGroupConfig* DestinationGroups::for_mx_host(std::string_view host) const {
    const std::string name = normalized(host);
    const DestinationGroupConfig* best = nullptr;
    std::size_t best_length = 0;
    for (const auto& group : groups_) {
        for (const auto& suffix : group.mx_suffixes) {
            if (suffix.size() > best_length && name.size() > suffix.size() &&
                name.ends_with(suffix)) {
                best = &group;
                best_length = suffix.size();
            }
        }
    }
    return best;
}

const DestinationGroupConfig* DestinationGroups::choose(
    std::string_view domain, const std::vector<std::string>& mx_hosts) const {
    if (const auto* group = for_domain(domain)) return group;
    if (mx_hosts.empty()) return nullptr;
    return for_mx_host(mx_hosts.front());
}

const DestinationGroupConfig* DestinationGroups::find(std::string_view name) const {
    for (const auto& group : groups_)
        if (group.name == name) return &group;
    return nullptr;
}

bool connection_spent(const DestinationGroupConfig* group, std::size_t sent) {
    return group && group->messages_per_connection > 0 && sent >= group->messages_per_connection;
}

}  // namespace smarthost::delivery
