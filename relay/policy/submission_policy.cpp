#include "relay/policy/submission_policy.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::policy {

namespace {

// "2026-11-25T15:00:00Z"
std::string utc_text(SystemTime when) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

constexpr const char* k_insert_rejection =
    "INSERT INTO rejections (account_id, reason) VALUES ($1, $2)";

}  // namespace

boost::asio::awaitable<smtp::PolicyVerdict> SubmissionPolicy::check(std::int64_t account_id,
                                                                    const smtp::PolicyQuery& query,
                                                                    std::string_view message) {
    auto verdict = co_await judge(account_id, query, message);
    if (!verdict.refused()) co_return verdict;
    const std::string reason = verdict.rejection_row();
    if (reason.empty()) co_return verdict;
    // Refusals are rare and worth one insert, for the account's statistics.
    auto stored = co_await pool_.query(k_insert_rejection, account_id, reason);
    if (!stored)
        spdlog::warn("policy: rejection of account {} not recorded: {}", account_id,
                     stored.error().message);
    co_return verdict;
}

boost::asio::awaitable<std::uint64_t> SubmissionPolicy::connection_limit(std::int64_t account_id) {
    auto account = co_await accounts_.get(account_id);
    if (!account) {
        spdlog::warn("policy: account {} not loaded for its connection limit: {}", account_id,
                     account.error().message);
        co_return settings_.max_connections;
    }
    co_return (*account)->max_connections.value_or(settings_.max_connections);
}

boost::asio::awaitable<std::optional<smtp::PolicyVerdict>> SubmissionPolicy::take_recipient_quota(
    const AccountPolicy& policy) {
    std::vector<LimitValue> limits;
    limits.emplace_back(RateLimit::recipients_per_hour,
                        policy.recipients_per_hour.value_or(settings_.recipients_per_hour));
    limits.emplace_back(RateLimit::recipients_per_day,
                        policy.recipients_per_day.value_or(settings_.recipients_per_day));
    auto over = co_await take_quota(policy, std::move(limits));
    co_return over;
}

boost::asio::awaitable<std::optional<smtp::PolicyVerdict>> SubmissionPolicy::take_quota(
    const AccountPolicy& policy, std::vector<LimitValue> limits) {
    auto taken = co_await limiter_.acquire(policy.account_id, std::move(limits), 1,
                                           std::chrono::system_clock::now());
    if (!taken) {
        spdlog::warn("policy: rate limits of account {} not checked: {}", policy.account_id,
                     taken.error().message);
        co_return smtp::PolicyVerdict::refuse(smtp::reply::policy_unavailable(),
                                              smtp::Refusal::unavailable);
    }
    if (!*taken) co_return std::nullopt;
    const LimitExceeded& exceeded = **taken;
    metrics::global()
        .rate_limit_hits
        .Add({{"account", policy.name}, {"limit", std::string(name_of(exceeded.limit))}})
        .Increment();
    co_return smtp::PolicyVerdict::refuse(
        smtp::reply::rate_limited(name_of(exceeded.limit), exceeded.value,
                                  utc_text(exceeded.resets_at)),
        smtp::Refusal::rate_limit, std::string(name_of(exceeded.limit)));
}

boost::asio::awaitable<smtp::PolicyVerdict> SubmissionPolicy::judge(std::int64_t account_id,
                                                                    const smtp::PolicyQuery& query,
                                                                    std::string_view message) {
    using smtp::PolicyVerdict;
    using smtp::Refusal;
    auto account = co_await accounts_.get(account_id);
    if (!account) {
        spdlog::warn("policy: account {} not loaded: {}", account_id, account.error().message);
        co_return PolicyVerdict::refuse(smtp::reply::policy_unavailable(), Refusal::unavailable);
    }
    const AccountPolicy& policy = **account;
    switch (query.stage) {
        case smtp::PolicyStage::sender: {
            auto verdict = judge_sender(policy, query.address, settings_.sender_rules);
            if (verdict.refused()) co_return verdict;
            // RFC 1870: a declared size over the account's limit is refused at MAIL.
            const auto max_bytes = policy.max_message_bytes.value_or(settings_.max_message_bytes);
            if (max_bytes > 0 && query.declared_size && *query.declared_size > max_bytes)
                co_return PolicyVerdict::refuse(smtp::reply::message_too_big(),
                                                Refusal::message_size);
            // Built before the co_await: g++ 12 miscompiles braced lists inside one.
            std::vector<LimitValue> limits;
            limits.emplace_back(RateLimit::messages_per_minute,
                                policy.messages_per_minute.value_or(settings_.messages_per_minute));
            limits.emplace_back(RateLimit::messages_per_hour,
                                policy.messages_per_hour.value_or(settings_.messages_per_hour));
            limits.emplace_back(RateLimit::messages_per_day,
                                policy.messages_per_day.value_or(settings_.messages_per_day));
            auto over = co_await take_quota(policy, std::move(limits));
            if (over) co_return std::move(*over);
            co_return verdict;
        }
        case smtp::PolicyStage::message: {
            const auto max_bytes = policy.max_message_bytes.value_or(settings_.max_message_bytes);
            if (max_bytes > 0 && message.size() > max_bytes)
                co_return PolicyVerdict::refuse(smtp::reply::message_too_big(),
                                                Refusal::message_size);
            co_return judge_message(policy, message, settings_.sender_rules,
                                    settings_.max_received_headers);
        }
        case smtp::PolicyStage::recipient:
            break;
    }
    const auto per_message =
        policy.recipients_per_message.value_or(settings_.recipients_per_message);
    if (per_message > 0 && query.recipients >= per_message)
        co_return PolicyVerdict::refuse(smtp::reply::too_many_recipients(),
                                        Refusal::recipients_per_message);
    if (!policy.has_suppressions) {
        auto over = co_await take_recipient_quota(policy);
        if (over) co_return std::move(*over);
        co_return PolicyVerdict::proceed();
    }
    auto suppressed = co_await accounts_.suppression(account_id, query.address);
    if (!suppressed) {
        spdlog::warn("policy: suppression check for account {} failed: {}", account_id,
                     suppressed.error().message);
        co_return PolicyVerdict::refuse(smtp::reply::policy_unavailable(), Refusal::unavailable);
    }
    if (!*suppressed) {
        auto over = co_await take_recipient_quota(policy);
        if (over) co_return std::move(*over);
        co_return PolicyVerdict::proceed();
    }
    const std::string why =
        **suppressed == "operator" ? "suppressed by the operator" : "an earlier hard bounce";
    auto reply = smtp::reply::recipient_suppressed(query.address, why);
    if (settings_.bounce_suppressed) co_return PolicyVerdict::accept_and_bounce(std::move(reply));
    co_return PolicyVerdict::refuse(std::move(reply), Refusal::suppressed);
}

}  // namespace smarthost::policy
