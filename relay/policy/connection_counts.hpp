#pragma once
// The arithmetic of per-account concurrent connection limits across replicas
// (docs/policy.md, "Concurrent connections"). Pure: no I/O, no clock.
//
// A process knows its own sessions per account exactly (`here`) and the other replicas'
// as they last published them (`elsewhere`). A session is admitted when here + elsewhere
// stays within the account's limit. Which counts changed since the last publication is
// kept, so that a publication carries only those.

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace smarthost::policy {

class ConnectionCounts {
  public:
    using Counts = std::unordered_map<std::int64_t, std::uint64_t>;
    // (account, sessions here now); 0 means the account has none left here.
    using Changes = std::vector<std::pair<std::int64_t, std::uint64_t>>;

    // Counts one more session of the account here if that keeps the account within
    // `limit` everywhere (limit 0: no limit, nothing counted; then false is never
    // returned, and release() must not be called for it).
    bool try_admit(std::int64_t account_id, std::uint64_t limit);
    // One session of an admitted account ended.
    void release(std::int64_t account_id);

    std::uint64_t here(std::int64_t account_id) const;
    std::uint64_t elsewhere(std::int64_t account_id) const;
    // The other replicas' sessions per account, from their latest publications.
    void replace_elsewhere(Counts counts) { elsewhere_ = std::move(counts); }

    // The counts changed since the last call (or since every count was taken).
    Changes take_changes();
    // Every non-zero count held here, for a full publication, which replaces all of this
    // replica's rows (after a failed publication, or when the database lost the rows).
    Changes take_all();

  private:
    Counts here_;
    Counts elsewhere_;
    std::unordered_set<std::int64_t> changed_;
};

}  // namespace smarthost::policy
