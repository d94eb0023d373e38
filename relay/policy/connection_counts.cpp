#include "relay/policy/connection_counts.hpp"

namespace smarthost::policy {

namespace {

std::uint64_t count_of(const ConnectionCounts::Counts& counts, std::int64_t account_id) {
    const auto it = counts.find(account_id);
    return it == counts.end() ? 0 : it->second;
}

}  // namespace

bool ConnectionCounts::try_admit(std::int64_t account_id, std::uint64_t limit) {
    if (limit == 0) return true;
    if (here(account_id) + elsewhere(account_id) >= limit) return false;
    ++here_[account_id];
    changed_.insert(account_id);
    return true;
}

void ConnectionCounts::release(std::int64_t account_id) {
    const auto it = here_.find(account_id);
    if (it == here_.end()) return;
    if (--it->second == 0) here_.erase(it);
    changed_.insert(account_id);
}

std::uint64_t ConnectionCounts::here(std::int64_t account_id) const {
    return count_of(here_, account_id);
}

std::uint64_t ConnectionCounts::elsewhere(std::int64_t account_id) const {
    return count_of(elsewhere_, account_id);
}

ConnectionCounts::Changes ConnectionCounts::take_changes() {
    Changes changes;
    changes.reserve(changed_.size());
    for (const auto account_id : changed_)
        changes.emplace_back(account_id, here(account_id));
    changed_.clear();
    return changes;
}

ConnectionCounts::Changes ConnectionCounts::take_all() {
    changed_.clear();
    return Changes(here_.begin(), here_.end());
}

}  // namespace smarthost::policy
