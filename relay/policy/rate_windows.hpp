#pragma once
// Per-account rate limits (DESIGN.md contract 5) in fixed UTC windows, and the local
// ledger of quota this process has leased from PostgreSQL. Pure: the clock comes in.
//
// Every replica leases blocks of quota from one row per (account, limit, window) in
// PostgreSQL; the total leased never exceeds the limit, and a process accepts only what
// it holds, so all replicas together never accept more than the limit in a window.
// Quota a process leased but did not use is lost when the window ends: the error is
// always on the side of accepting less.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace smarthost::policy {

using SystemTime = std::chrono::system_clock::time_point;

enum class RateLimit {
    messages_per_minute,
    messages_per_hour,
    messages_per_day,
    recipients_per_hour,
    recipients_per_day,
};

// The name in replies, the database and the configuration: "messages_per_hour".
std::string_view name_of(RateLimit limit);

struct Window {
    SystemTime start;
    SystemTime end;  // exclusive; when the limit resets
};

// The fixed window containing `now`: minutes, hours and days aligned to UTC.
Window window_of(RateLimit limit, SystemTime now);

// How much quota to ask for when the local block is empty: about a tenth of the limit,
// at least `n` (what is needed now), at most `max_block`. PostgreSQL grants less as the
// window fills up (see QuotaStore), so little quota is stranded in idle replicas.
std::uint64_t lease_request(std::uint64_t limit, std::uint64_t n, std::uint64_t max_block);

// Whose quota within an account: the account itself (""), one of its credentials
// ("credential:<id>") or one of its sub-users ("sub_user:<name>"), as rate_usage.scope
// names it.
using QuotaScope = std::string;
std::string credential_scope(std::int64_t credential_id);
std::string sub_user_scope(std::string_view sub_user);
inline constexpr std::string_view k_sub_user_scope_prefix = "sub_user:";

// Quota this process holds, per account, scope, limit and window. Entries of past windows
// are dropped as they are met.
class QuotaLedger {
  public:
    // Takes n units if the block for the window holds that many.
    bool take(std::int64_t account_id, RateLimit limit, const Window& window, std::uint64_t n) {
        return take(account_id, {}, limit, window, n);
    }
    bool take(std::int64_t account_id, const QuotaScope& scope, RateLimit limit,
              const Window& window, std::uint64_t n);
    // Adds leased units (or gives back units taken but not used).
    void add(std::int64_t account_id, RateLimit limit, const Window& window, std::uint64_t n) {
        add(account_id, {}, limit, window, n);
    }
    void add(std::int64_t account_id, const QuotaScope& scope, RateLimit limit,
             const Window& window, std::uint64_t n);
    std::uint64_t held(std::int64_t account_id, RateLimit limit, const Window& window) const {
        return held(account_id, {}, limit, window);
    }
    std::uint64_t held(std::int64_t account_id, const QuotaScope& scope, RateLimit limit,
                       const Window& window) const;
    // Forgets blocks of windows that ended at or before `now`. Cheap when none has: it is
    // called for every acquire, and walks the blocks only once the earliest window ended.
    void expire(SystemTime now);

  private:
    using Key = std::tuple<std::int64_t, QuotaScope, RateLimit>;
    struct Block {
        SystemTime window_start;
        SystemTime window_end;
        std::uint64_t units = 0;
    };
    std::map<Key, Block> blocks_;
    // No block's window ends before this (it may be earlier than the earliest end, which
    // only costs an extra walk).
    SystemTime earliest_end_ = SystemTime::max();
};

}  // namespace smarthost::policy
