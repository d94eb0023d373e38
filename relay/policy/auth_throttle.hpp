#pragma once
// Failed-AUTH throttling (docs/policy.md, "Authentication abuse"), built to lock the
// attacker and never the victim (DESIGN.md contract 8). Failures are counted in a sliding
// window in PostgreSQL, so every replica sees every other's, for three keys:
//
//   network            the client's network (policy/client_network.hpp): past
//                      max_network_failures it gets 421 at connect and at its next AUTH;
//   username_network   one username from one network: past max_failures that pair gets
//                      454 to AUTH, while the right password from any other network still
//                      logs in;
//   username           one username from anywhere: past username_alert_failures it is
//                      flagged, never refused; its successful logins are then recorded
//                      in auth_suspicious_logins for the operator to look at.
//
// The hot path stays cheap: locks are answered from this process's copy of the (small)
// set of current lockouts, reloaded at most once per `refresh` interval, so a connection
// or a successful AUTH costs no round trip of its own. A lock set by another replica
// takes effect here within that interval; one set by this process at once. Only failures
// pay a statement (one round trip).

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
    enum class Kind { network, username_network, username };

    void replace(std::unordered_map<std::string, Clock::time_point> locks) {
        locks_ = std::move(locks);
    }
    void lock(Kind kind, std::string_view key, Clock::time_point until);
    bool locked(Kind kind, std::string_view key, Clock::time_point now) const;
    static std::string entry(Kind kind, std::string_view key);
    // The key of one username from one network: the network comes first and holds no
    // '|', so no username can make two pairs meet.
    static std::string username_network_key(std::string_view network, std::string_view username);

  private:
    std::unordered_map<std::string, Clock::time_point> locks_;
};

// Why a login attempt is refused before its password is looked at.
enum class LoginLock {
    none,
    network,           // 421 4.7.0 and close: the whole network is locked
    username_network,  // 454 4.7.0: this username, from this network
};

class AuthThrottle {
  public:
    struct Settings {
        std::size_t max_failures = 10;             // one username from one network; 0: off
        std::size_t max_network_failures = 30;     // one network, whatever the usernames
        std::size_t username_alert_failures = 50;  // one username from anywhere; 0: never
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

    // Without the database the last known lockouts keep applying and nothing new is
    // locked (fails open: AUTH itself still needs the database).
    boost::asio::awaitable<bool> network_locked(std::string network);
    // Asked at every AUTH attempt, so a lock set during a session applies to its next try.
    boost::asio::awaitable<LoginLock> login_lock(std::string network, std::string username);
    // Whether the username has had username_alert_failures failures lately (any network).
    boost::asio::awaitable<bool> username_flagged(std::string username);

    // Counts one failed AUTH from `network` for `username`; locks what crossed its
    // threshold with it.
    boost::asio::awaitable<void> record_failure(std::string network, std::string username);

    // A successful AUTH worth a second look: from an address an auth_suspicious zone
    // lists (reason "dnsbl", with those zones), or of a flagged username
    // ("failed_logins", no zones).
    boost::asio::awaitable<void> record_suspicious_login(std::int64_t account_id,
                                                         std::optional<std::int64_t> credential_id,
                                                         std::string username, std::string ip,
                                                         std::string reason,
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
