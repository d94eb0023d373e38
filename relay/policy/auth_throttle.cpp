#include "relay/policy/auth_throttle.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "relay/events/outbox.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;
using Clock = LockoutTable::Clock;

// Old failures and expired lockouts are deleted this often (by any replica; harmless
// when several do).
constexpr std::chrono::seconds k_prune_interval{60};

constexpr const char* k_current_lockouts = R"sql(
SELECT kind, key, ceil(extract(epoch FROM locked_until - now()) * 1000)::bigint
  FROM auth_lockouts WHERE locked_until > now())sql";

// One round trip: count this failure under its three keys with those still in the
// window, and lock each key that reached its own threshold (0: that key is not counted).
// A lock consumes the key's failures, so that after the cool-down the key starts from
// zero rather than being locked again by its first mistake.
// A lock on a username (from one network, or flagged from everywhere) is told to the
// account's webhook endpoints that want auth.locked, in the same statement (outbox.hpp);
// a network lock belongs to no account.
constexpr const char* k_auth_locked_source = R"sql(
SELECT 'auth.locked', c.account_id,
       jsonb_build_object('kind', l.kind, 'username', $3::text,
                          'client_network', CASE WHEN l.kind = 'username_network' THEN $1::text END,
                          'failures', l.failures, 'locked_until', l.locked_until)
FROM locked l JOIN credentials c ON c.username = $3::text
WHERE l.kind IN ('username_network', 'username'))sql";

const std::string k_record_failure = R"sql(
WITH attempt (kind, key, threshold) AS (
    VALUES ('network', $1::text, $4::bigint), ('username_network', $2::text, $5::bigint),
           ('username', $3::text, $6::bigint)),
counted AS (
    SELECT a.kind, a.key, a.threshold,
           1 + (SELECT count(*) FROM auth_failures f
                 WHERE f.kind = a.kind AND f.key = a.key
                   AND f.failed_at > now() - make_interval(secs => $7)) AS failures
      FROM attempt a WHERE a.key <> '' AND a.threshold > 0),
recorded AS (
    INSERT INTO auth_failures (kind, key)
    SELECT kind, key FROM counted WHERE failures < threshold),
cleared AS (
    DELETE FROM auth_failures f USING counted c
     WHERE c.failures >= c.threshold AND f.kind = c.kind AND f.key = c.key),
locked AS (
    INSERT INTO auth_lockouts (kind, key, locked_until, failures)
    SELECT kind, key, now() + make_interval(secs => $8), failures FROM counted
     WHERE failures >= threshold
    ON CONFLICT (kind, key) DO UPDATE
       SET locked_at = now(), locked_until = EXCLUDED.locked_until,
           failures = EXCLUDED.failures
    RETURNING kind, key, failures, locked_until),
)sql" + events::outbox_ctes("webhook", k_auth_locked_source) +
                                     "\nSELECT kind, key FROM locked";

constexpr const char* k_prune_failures =
    "DELETE FROM auth_failures WHERE failed_at < now() - make_interval(secs => $1)";
constexpr const char* k_prune_lockouts =
    "DELETE FROM auth_lockouts WHERE locked_until < now() - interval '1 day'";

constexpr const char* k_suspicious_login = R"sql(
INSERT INTO auth_suspicious_logins (account_id, credential_id, username, client_ip, zones, reason)
VALUES ($1, $2, $3, $4::inet, $5::text[], $6))sql";

LockoutTable::Kind kind_of(std::string_view text) {
    if (text == "network") return LockoutTable::Kind::network;
    if (text == "username_network") return LockoutTable::Kind::username_network;
    return LockoutTable::Kind::username;
}

const char* name_of(LockoutTable::Kind kind) {
    switch (kind) {
        case LockoutTable::Kind::network:
            return "network";
        case LockoutTable::Kind::username_network:
            return "username_network";
        case LockoutTable::Kind::username:
            break;
    }
    return "username";
}

}  // namespace

std::string LockoutTable::entry(Kind kind, std::string_view key) {
    std::string e = name_of(kind);
    e += ':';
    e += key;
    return e;
}

std::string LockoutTable::username_network_key(std::string_view network,
                                               std::string_view username) {
    std::string key(network);
    key += '|';
    key += username;
    return key;
}

void LockoutTable::lock(Kind kind, std::string_view key, Clock::time_point until) {
    auto& current = locks_[entry(kind, key)];
    if (current < until) current = until;
}

bool LockoutTable::locked(Kind kind, std::string_view key, Clock::time_point now) const {
    const auto it = locks_.find(entry(kind, key));
    return it != locks_.end() && it->second > now;
}

asio::awaitable<void> AuthThrottle::refresh() {
    const auto now = Clock::now();
    if (refreshing_ || now - loaded_ < settings_.refresh) co_return;
    refreshing_ = true;
    auto rows = co_await pool_.query(k_current_lockouts);
    refreshing_ = false;
    loaded_ = Clock::now();
    if (!rows) {
        spdlog::warn("auth throttle: lockouts not reloaded: {}", rows.error().message);
        co_return;
    }
    std::unordered_map<std::string, Clock::time_point> locks;
    for (std::size_t i = 0; i < rows->size(); ++i) {
        const auto remaining = std::chrono::milliseconds(rows->get_int(i, 2));
        locks[LockoutTable::entry(kind_of(rows->get(i, 0)), rows->get(i, 1))] = loaded_ + remaining;
    }
    table_.replace(std::move(locks));

    if (loaded_ - pruned_ >= k_prune_interval) {
        pruned_ = loaded_;
        auto failures = co_await pool_.query(
            k_prune_failures, static_cast<std::int64_t>(settings_.failure_window.count()));
        auto lockouts = co_await pool_.query(k_prune_lockouts);
        if (!failures || !lockouts) spdlog::warn("auth throttle: pruning old rows failed");
    }
}

asio::awaitable<bool> AuthThrottle::network_locked(std::string network) {
    if (!enabled()) co_return false;
    co_await refresh();
    co_return table_.locked(LockoutTable::Kind::network, network, Clock::now());
}

asio::awaitable<LoginLock> AuthThrottle::login_lock(std::string network, std::string username) {
    if (!enabled()) co_return LoginLock::none;
    co_await refresh();
    const auto now = Clock::now();
    if (table_.locked(LockoutTable::Kind::network, network, now)) co_return LoginLock::network;
    if (table_.locked(LockoutTable::Kind::username_network,
                      LockoutTable::username_network_key(network, username), now))
        co_return LoginLock::username_network;
    co_return LoginLock::none;
}

asio::awaitable<bool> AuthThrottle::username_flagged(std::string username) {
    if (!enabled() || settings_.username_alert_failures == 0) co_return false;
    co_await refresh();
    co_return table_.locked(LockoutTable::Kind::username, username, Clock::now());
}

asio::awaitable<void> AuthThrottle::record_failure(std::string network, std::string username) {
    if (!enabled()) co_return;
    auto rows = co_await pool_.query(
        k_record_failure, network, LockoutTable::username_network_key(network, username), username,
        static_cast<std::int64_t>(settings_.max_network_failures),
        static_cast<std::int64_t>(settings_.max_failures),
        static_cast<std::int64_t>(settings_.username_alert_failures),
        static_cast<std::int64_t>(settings_.failure_window.count()),
        static_cast<std::int64_t>(settings_.lockout.count()));
    if (!rows) {
        spdlog::warn("auth throttle: failure from {} not counted: {}", network,
                     rows.error().message);
        co_return;
    }
    const auto until = Clock::now() + settings_.lockout;
    for (std::size_t i = 0; i < rows->size(); ++i) {
        const auto kind = kind_of(rows->get(i, 0));
        const std::string key(rows->get(i, 1));
        table_.lock(kind, key, until);
        metrics::global().auth_lockouts.Add({{"kind", name_of(kind)}}).Increment();
        spdlog::warn("auth throttle: {} {} {} for {} s after failed logins", name_of(kind), key,
                     kind == LockoutTable::Kind::username ? "flagged" : "locked",
                     settings_.lockout.count());
    }
}

asio::awaitable<void> AuthThrottle::record_suspicious_login(
    std::int64_t account_id, std::optional<std::int64_t> credential_id, std::string username,
    std::string ip, std::string reason, std::vector<std::string> zones) {
    // Zone names are DNS names (config-checked): no quotes or backslashes to escape.
    std::string array = "{";
    for (const auto& zone : zones) {
        if (array.size() > 1) array += ',';
        array += '"' + zone + '"';
    }
    array += '}';
    auto rows = co_await pool_.query(k_suspicious_login, account_id, credential_id, username, ip,
                                     array, reason);
    if (!rows)
        spdlog::warn("auth: suspicious login of {} from {} not recorded: {}", username, ip,
                     rows.error().message);
}

}  // namespace smarthost::policy
