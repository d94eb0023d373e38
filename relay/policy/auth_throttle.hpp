#pragma once
// Failed-AUTH throttling (docs/policy.md, "Authentication abuse"). Failures are counted
// per client address and per username in a sliding window in PostgreSQL, so every
// replica sees every other's; past the threshold the address and the username are locked
// for the cool-down (table auth_lockouts).
//
// The hot path stays cheap: whether an address or username is locked is answered from
// this process's copy of the (small) set of current lockouts, reloaded at most once per
// `refresh` interval, so a connection or a successful AUTH costs no round trip of its
// own. A lock set by another replica takes effect here within that interval; one set by
// this process at once. Only failures pay a statement (one round trip).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

// The current lockouts as this process knows them. Pure: no I/O.
class LockoutTable {
  public:
    using Clock = std::chrono::steady_clock;
    enum class Kind { ip, username };

    void replace(std::unordered_map<std::string, Clock::time_point> locks) {
        locks_ = std::move(locks);
    }
    void lock(Kind kind, std::string_view key, Clock::time_point until);
    bool locked(Kind kind, std::string_view key, Clock::time_point now) const;
    static std::string entry(Kind kind, std::string_view key);

  private:
    std::unordered_map<std::string, Clock::time_point> locks_;
};

class AuthThrottle {
  public:
    struct Settings {
        std::size_t max_failures = 10;  // 0: throttling off
        std::chrono::seconds failure_window{600};
        std::chrono::seconds lockout{900};
        std::chrono::milliseconds refresh{1000};
    };

    AuthThrottle(pg::Pool& pool, Settings settings) : pool_(pool), settings_(settings) {}

    // SIGHUP: the thresholds apply to the next failure; lockouts already set keep their end.
    void reconfigure(Settings settings) { settings_ = settings; }
    const Settings& settings() const { return settings_; }

    bool enabled() const { return settings_.max_failures > 0; }
    std::chrono::seconds lockout() const { return settings_.lockout; }

    // Whether the address / username is locked now. Without the database the last known
    // lockouts keep applying and nothing new is locked (fails open: AUTH itself still
    // needs the database).
    boost::asio::awaitable<bool> ip_locked(std::string ip);
    boost::asio::awaitable<bool> username_locked(std::string username);

    // Counts one failed AUTH; locks what crossed the threshold with it.
    boost::asio::awaitable<void> record_failure(std::string ip, std::string username);

    // A successful AUTH from an address that an auth_suspicious zone lists.
    boost::asio::awaitable<void> record_suspicious_login(std::int64_t account_id,
                                                         std::optional<std::int64_t> credential_id,
                                                         std::string username, std::string ip,
                                                         std::vector<std::string> zones);

  private:
    boost::asio::awaitable<void> refresh();

    pg::Pool& pool_;
    Settings settings_;
    LockoutTable table_;
    LockoutTable::Clock::time_point loaded_{};
    LockoutTable::Clock::time_point pruned_{};
    bool refreshing_ = false;
};

}  // namespace smarthost::policy
