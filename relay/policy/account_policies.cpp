#include "relay/policy/account_policies.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <sstream>

#include "core/pg/pool.hpp"
#include "relay/smtp/address.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;

constexpr std::size_t k_max_cached_accounts = 100000;

// One row per sender domain, or one row with NULL domain columns when there is none.
constexpr const char* k_account_policy = R"sql(
SELECT a.name, a.status = 'suspended', coalesce(a.suspended_reason, ''), a.may_send_null_sender,
       EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = a.id),
       d.domain, d.include_subdomains, d.status = 'verified',
       a.messages_per_minute, a.messages_per_hour, a.messages_per_day, a.recipients_per_hour,
       a.recipients_per_day, a.recipients_per_message, a.max_message_bytes, a.max_connections,
       d.id, d.dkim_policy,
       a.sub_user_header, a.sub_user_header_strip, a.sub_user_messages_per_minute,
       a.sub_user_messages_per_hour, a.sub_user_messages_per_day, a.sub_user_recipients_per_hour,
       a.sub_user_recipients_per_day, a.max_sub_users,
       cl.limits,
       a.scan_enabled, a.scan_add_header_score, a.scan_hold_score, a.scan_reject_score,
       ah.holds
  FROM accounts a
 -- The credentials that have limits of their own, once per account (not per domain row).
 CROSS JOIN LATERAL (
       SELECT string_agg(concat_ws(' ', c.id, coalesce(c.messages_per_minute, -1),
                                   coalesce(c.messages_per_hour, -1),
                                   coalesce(c.messages_per_day, -1),
                                   coalesce(c.recipients_per_hour, -1),
                                   coalesce(c.recipients_per_day, -1), c.username), E'\n') AS limits
         FROM credentials c
        WHERE c.account_id = a.id
          AND num_nonnulls(c.messages_per_minute, c.messages_per_hour, c.messages_per_day,
                           c.recipients_per_hour, c.recipients_per_day) > 0) cl
  -- Its active holds, each with the recipients waiting under it counted up to $2 (the
  -- index of recipients by hold): lines of "credential_id-or--1 count sub_user".
 CROSS JOIN LATERAL (
       SELECT string_agg(concat_ws(' ', coalesce(h.credential_id, -1),
                                   (SELECT count(*) FROM (SELECT 1 FROM recipients r
                                                           WHERE r.hold_id = h.id
                                                             AND r.state = 'held'
                                                           LIMIT $2) AS waiting),
                                   h.sub_user), E'\n') AS holds
         FROM holds h
        WHERE h.account_id = a.id AND h.released_at IS NULL) ah
  LEFT JOIN sender_domains d ON d.account_id = a.id
 WHERE a.id = $1)sql";

// The active DKIM keys of the account's domains, in binary format (the sealed key is
// bytea), so every column is text or bytea.
constexpr const char* k_active_dkim_keys = R"sql(
SELECT k.sender_domain_id::text, k.id::text, k.selector, k.algorithm, k.private_key_sealed,
       k.dns_status
  FROM dkim_keys k JOIN sender_domains d ON d.id = k.sender_domain_id
 WHERE d.account_id = $1 AND k.state = 'active' AND d.dkim_policy <> 'off'
 ORDER BY k.algorithm DESC)sql";

// Suppressed addresses are stored canonical (smtp::canonical_address) and then passed
// through the database's lower(), which the schema's CHECK demands; so is the lookup.
constexpr const char* k_suppression = R"sql(
SELECT reason FROM suppressions WHERE account_id = $1 AND address = lower($2))sql";

// Lines of "credential_id-or--1 count sub_user" (sub-user names hold no spaces:
// smtp::normalize_sub_user; absent for a hold that names none).
std::vector<AccountPolicy::ActiveHold> parse_active_holds(std::string_view text) {
    std::vector<AccountPolicy::ActiveHold> holds;
    std::istringstream lines{std::string(text)};
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::int64_t credential_id = -1;
        AccountPolicy::ActiveHold hold;
        fields >> credential_id >> hold.held;
        if (fields.fail()) continue;
        fields >> hold.sub_user;
        if (credential_id >= 0) hold.credential_id = credential_id;
        holds.push_back(std::move(hold));
    }
    return holds;
}

// Lines of "id messages_per_minute ... recipients_per_day username", -1 for no limit
// (usernames hold no spaces or controls: admin-api/credentials.cpp).
std::vector<CredentialLimits> parse_credential_limits(std::string_view text) {
    std::vector<CredentialLimits> credentials;
    std::istringstream lines{std::string(text)};
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        CredentialLimits credential;
        std::array<std::int64_t, 5> values{};
        fields >> credential.credential_id;
        for (auto& value : values)
            fields >> value;
        fields >> credential.username;
        if (fields.fail()) continue;
        const auto limit = [](std::int64_t value) -> std::optional<std::uint64_t> {
            if (value < 0) return std::nullopt;
            return static_cast<std::uint64_t>(value);
        };
        credential.limits = ScopeLimits{limit(values[0]), limit(values[1]), limit(values[2]),
                                        limit(values[3]), limit(values[4])};
        credentials.push_back(std::move(credential));
    }
    return credentials;
}

}  // namespace

struct AccountPolicies::Loading {
    explicit Loading(const asio::any_io_executor& executor) : done(executor) {
        done.expires_at(asio::steady_timer::time_point::max());
    }
    asio::steady_timer done;  // cancelled once `result` is set
    std::optional<Result<std::shared_ptr<const AccountPolicy>>> result;
};

boost::asio::awaitable<Result<std::shared_ptr<const AccountPolicy>>> AccountPolicies::get(
    std::int64_t account_id) {
    if (auto it = cache_.find(account_id); it != cache_.end()) {
        if (it->second.expires > std::chrono::steady_clock::now()) co_return it->second.policy;
        cache_.erase(it);
    }
    if (cache_ttl_.count() == 0) {
        auto loaded = co_await load(account_id);
        co_return loaded;
    }
    if (auto it = loading_.find(account_id); it != loading_.end()) {
        const auto loading = it->second;  // outlives its entry in loading_
        co_await loading->done.async_wait(asio::as_tuple(asio::use_awaitable));
        if (loading->result) co_return *loading->result;
        co_return Error{"the account's policy query was abandoned", {}, true};
    }
    const auto executor = co_await asio::this_coro::executor;
    const auto loading = std::make_shared<Loading>(executor);
    loading_.emplace(account_id, loading);
    // Whatever way this coroutine ends, the waiters are woken and the next caller of a
    // missing account queries again.
    struct Finish {
        AccountPolicies& self;
        std::int64_t account_id;
        Loading& loading;
        ~Finish() {
            self.loading_.erase(account_id);
            loading.done.cancel();
        }
    } finish{*this, account_id, *loading};
    loading->result = co_await load(account_id);
    co_return *loading->result;
}

boost::asio::awaitable<Result<std::shared_ptr<const AccountPolicy>>> AccountPolicies::load(
    std::int64_t account_id) {
    ++loads_;
    auto rows =
        co_await pool_.query(k_account_policy, account_id, static_cast<std::int64_t>(held_bound_));
    const auto now = std::chrono::steady_clock::now();
    if (!rows) co_return rows.error();
    auto policy = std::make_shared<AccountPolicy>();
    policy->account_id = account_id;
    policy->exists = !rows->empty();
    for (std::size_t i = 0; i < rows->size(); ++i) {
        if (i == 0) {
            policy->name = std::string(rows->get(0, 0));
            policy->suspended = rows->get_bool(0, 1);
            policy->suspended_reason = std::string(rows->get(0, 2));
            policy->may_send_null_sender = rows->get_bool(0, 3);
            policy->has_suppressions = rows->get_bool(0, 4);
            const auto limit = [&rows](int column) -> std::optional<std::uint64_t> {
                if (rows->is_null(0, column)) return std::nullopt;
                return static_cast<std::uint64_t>(rows->get_int(0, column));
            };
            policy->messages_per_minute = limit(8);
            policy->messages_per_hour = limit(9);
            policy->messages_per_day = limit(10);
            policy->recipients_per_hour = limit(11);
            policy->recipients_per_day = limit(12);
            policy->recipients_per_message = limit(13);
            policy->max_message_bytes = limit(14);
            policy->max_connections = limit(15);
            if (!rows->is_null(0, 18)) policy->sub_user_header = std::string(rows->get(0, 18));
            policy->strip_sub_user_header = rows->get_bool(0, 19);
            policy->sub_user_limits =
                ScopeLimits{limit(20), limit(21), limit(22), limit(23), limit(24)};
            policy->max_sub_users = static_cast<std::uint64_t>(rows->get_int(0, 25));
            if (!rows->is_null(0, 26))
                policy->credential_limits = parse_credential_limits(rows->get(0, 26));
            if (!rows->is_null(0, 27)) policy->scan_enabled = rows->get_bool(0, 27);
            const auto score = [&rows](int column) -> std::optional<double> {
                if (rows->is_null(0, column)) return std::nullopt;
                return std::stod(std::string(rows->get(0, column)));
            };
            policy->scan_thresholds = {score(28), score(29), score(30)};
            if (!rows->is_null(0, 31)) policy->active_holds = parse_active_holds(rows->get(0, 31));
        }
        if (rows->is_null(i, 5)) continue;
        SenderDomain domain{std::string(rows->get(i, 5)), rows->get_bool(i, 6),
                            rows->get_bool(i, 7)};
        domain.id = rows->get_int(i, 16);
        domain.dkim_policy = parse_dkim_policy(rows->get(i, 17)).value_or(DkimPolicy::verified);
        policy->sender_domains.push_back(std::move(domain));
    }
    if (auto status = co_await load_dkim_keys(*policy); !status) co_return status.error();
    if (cache_ttl_.count() > 0) {
        if (cache_.size() >= k_max_cached_accounts) {
            std::erase_if(cache_, [now](const auto& kv) { return kv.second.expires <= now; });
            if (cache_.size() >= k_max_cached_accounts) cache_.clear();
        }
        cache_[account_id] = Cached{policy, now + cache_ttl_};
    }
    co_return std::shared_ptr<const AccountPolicy>(std::move(policy));
}

boost::asio::awaitable<Status> AccountPolicies::load_dkim_keys(AccountPolicy& policy) {
    if (policy.sender_domains.empty()) co_return Done{};
    std::vector<pg::Param> params;
    params.push_back(pg::to_param(policy.account_id));
    auto rows =
        co_await pool_.execute(k_active_dkim_keys, std::move(params), pg::ResultFormat::binary);
    if (!rows) co_return rows.error();
    for (std::size_t i = 0; i < rows->size(); ++i) {
        const auto domain_id = std::stoll(std::string(rows->get(i, 0)));
        const auto algorithm = dkim::parse_algorithm(rows->get(i, 3));
        if (!algorithm) continue;  // the schema's CHECK allows no other
        DkimKeyRef key;
        key.id = std::stoll(std::string(rows->get(i, 1)));
        key.selector = std::string(rows->get(i, 2));
        key.algorithm = *algorithm;
        key.sealed = std::string(rows->get(i, 4));
        key.published = rows->get(i, 5) == "published";
        const auto domain =
            std::find_if(policy.sender_domains.begin(), policy.sender_domains.end(),
                         [domain_id](const SenderDomain& entry) { return entry.id == domain_id; });
        if (domain != policy.sender_domains.end()) domain->dkim_keys.push_back(std::move(key));
    }
    co_return Done{};
}

boost::asio::awaitable<Result<std::optional<std::string>>> AccountPolicies::suppression(
    std::int64_t account_id, std::string address) {
    auto rows = co_await pool_.query(k_suppression, account_id, smtp::canonical_address(address));
    if (!rows) co_return rows.error();
    std::optional<std::string> reason;
    if (!rows->empty()) reason = std::string(rows->get(0, 0));
    co_return reason;
}

}  // namespace smarthost::policy
