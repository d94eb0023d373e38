#pragma once
// Account policies and suppressions from PostgreSQL, for the submission path.
//
// An account's policy (status, null-sender permission, sender domains and their active
// DKIM keys, whether it has suppressions) is one query (two when it has sender domains),
// remembered per process for `cache_ttl`: a client that sends many messages costs one or
// two round trips per TTL, and an operator's change (a suspension, a new or lost domain,
// a DKIM key activated) takes effect everywhere within that time. Sessions
// of one account that miss the cache together share one query (with a cache; without
// one, every check reads the database).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/result.hpp"
#include "relay/policy/account_policy.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

class AccountPolicies {
  public:
    AccountPolicies(pg::Pool& pool, std::chrono::milliseconds cache_ttl)
        : pool_(pool), cache_ttl_(cache_ttl) {}

    // Entries already cached keep their expiry.
    void set_cache_ttl(std::chrono::milliseconds cache_ttl) { cache_ttl_ = cache_ttl; }
    // How far the recipients under each active hold are counted (AccountPolicy::
    // active_holds): past the bound the count says only "at least this many".
    void set_held_bound(std::uint64_t bound) { held_bound_ = bound; }

    // The account's policy (exists = false for an unknown id), or an Error when the
    // database cannot answer (never cached).
    boost::asio::awaitable<Result<std::shared_ptr<const AccountPolicy>>> get(
        std::int64_t account_id);

    // Why the address is suppressed for the account ("hard_bounce", "operator"), or
    // nullopt when it is not: compared in its canonical form (smtp::canonical_address), so
    // "Bob"@Example.org finds bob@example.org. One lookup in the (account_id, address)
    // unique index.
    boost::asio::awaitable<Result<std::optional<std::string>>> suppression(std::int64_t account_id,
                                                                           std::string address);

    // Queries of account policies so far, for tests.
    std::uint64_t loads() const { return loads_; }

  private:
    struct Loading;  // a query in flight, which later callers of get() wait for
    boost::asio::awaitable<Result<std::shared_ptr<const AccountPolicy>>> load(
        std::int64_t account_id);
    // The second query of a load: the active DKIM keys of the policy's sender domains.
    boost::asio::awaitable<Status> load_dkim_keys(AccountPolicy& policy);

    struct Cached {
        std::shared_ptr<const AccountPolicy> policy;
        std::chrono::steady_clock::time_point expires;
    };
    pg::Pool& pool_;
    std::chrono::milliseconds cache_ttl_;
    std::uint64_t held_bound_ = 0;
    std::unordered_map<std::int64_t, Cached> cache_;
    std::unordered_map<std::int64_t, std::shared_ptr<Loading>> loading_;
    std::uint64_t loads_ = 0;
};

}  // namespace smarthost::policy
