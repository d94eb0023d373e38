#include "relay/policy/submission_policy.hpp"

#include <boost/asio/this_coro.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "relay/smtp/sub_user_header.hpp"

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

// With the credential and sub-user it was sent as, when known (the anomaly rules and the
// statistics key on them).
constexpr const char* k_insert_rejection =
    "INSERT INTO rejections (account_id, reason, credential_id, sub_user) "
    "VALUES ($1, $2, $3, nullif($4, ''))";

std::vector<LimitValue> message_limits(const ScopeLimits& limits) {
    std::vector<LimitValue> values;
    values.emplace_back(RateLimit::messages_per_minute, limits.messages_per_minute.value_or(0));
    values.emplace_back(RateLimit::messages_per_hour, limits.messages_per_hour.value_or(0));
    values.emplace_back(RateLimit::messages_per_day, limits.messages_per_day.value_or(0));
    return values;
}

std::vector<LimitValue> recipient_limits(const ScopeLimits& limits) {
    std::vector<LimitValue> values;
    values.emplace_back(RateLimit::recipients_per_hour, limits.recipients_per_hour.value_or(0));
    values.emplace_back(RateLimit::recipients_per_day, limits.recipients_per_day.value_or(0));
    return values;
}

// The 451 4.7.1 for a limit of the account, of one of its credentials or of a sub-user,
// counted in the metric of its scope (sub-users are never a label: customers name them).
smtp::PolicyVerdict limit_refusal(const AccountPolicy& policy, const LimitExceeded& exceeded) {
    auto& metrics = metrics::global();
    const std::string limit(name_of(exceeded.limit));
    const std::string resets_at = utc_text(exceeded.resets_at);
    const std::string_view scope = exceeded.scope;
    if (scope.empty()) {
        metrics.rate_limit_hits.Add({{"account", policy.name}, {"limit", limit}}).Increment();
        return smtp::PolicyVerdict::refuse(
            smtp::reply::rate_limited(limit, exceeded.value, resets_at), smtp::Refusal::rate_limit,
            limit);
    }
    if (scope.starts_with(k_sub_user_scope_prefix)) {
        const auto sub_user = scope.substr(k_sub_user_scope_prefix.size());
        const std::string counted = exceeded.too_many_scopes ? "max_sub_users" : limit;
        metrics.sub_user_rate_limit_hits.Add({{"account", policy.name}, {"limit", counted}})
            .Increment();
        if (exceeded.too_many_scopes)
            return smtp::PolicyVerdict::refuse(
                smtp::reply::too_many_sub_users(policy.name, exceeded.value, limit, resets_at),
                smtp::Refusal::rate_limit, "max_sub_users");
        return smtp::PolicyVerdict::refuse(
            smtp::reply::scoped_rate_limited("Sub-user " + std::string(sub_user), limit,
                                             exceeded.value, resets_at),
            smtp::Refusal::rate_limit, "sub_user:" + limit);
    }
    std::string username;
    for (const auto& credential : policy.credential_limits)
        if (credential_scope(credential.credential_id) == scope) username = credential.username;
    // Labelled by id: a username is often a mail address, which no label carries.
    const std::string credential(scope.substr(scope.find(':') + 1));
    metrics.credential_rate_limit_hits
        .Add({{"account", policy.name}, {"credential", credential}, {"limit", limit}})
        .Increment();
    return smtp::PolicyVerdict::refuse(
        smtp::reply::scoped_rate_limited("Credential " + username, limit, exceeded.value,
                                         resets_at),
        smtp::Refusal::rate_limit, "credential:" + limit);
}

}  // namespace

boost::asio::awaitable<smtp::PolicyVerdict> SubmissionPolicy::check(std::int64_t account_id,
                                                                    const smtp::PolicyQuery& query,
                                                                    std::string_view message) {
    auto judgement = co_await check(Submitter{account_id, std::nullopt}, query, message);
    co_return std::move(judgement.verdict);
}

boost::asio::awaitable<Judgement> SubmissionPolicy::check(Submitter submitter,
                                                          const smtp::PolicyQuery& query,
                                                          std::string_view message) {
    Judgement judgement;
    judgement.verdict = co_await judge(submitter, query, message, judgement);
    const auto& verdict = judgement.verdict;
    if (!verdict.refused()) co_return judgement;
    const std::string reason = verdict.rejection_row();
    if (reason.empty()) co_return judgement;
    // Refusals are rare and worth one insert, for the account's statistics.
    auto stored = co_await pool_.query(k_insert_rejection, submitter.account_id, reason,
                                       submitter.credential_id, judgement.sub_user);
    if (!stored)
        spdlog::warn("policy: rejection of account {} not recorded: {}", submitter.account_id,
                     stored.error().message);
    co_return judgement;
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
    const AccountPolicy& policy, std::optional<std::int64_t> credential_id) {
    std::vector<ScopedLimits> scopes(1);
    scopes.front().limits.emplace_back(
        RateLimit::recipients_per_hour,
        policy.recipients_per_hour.value_or(settings_.recipients_per_hour));
    scopes.front().limits.emplace_back(
        RateLimit::recipients_per_day,
        policy.recipients_per_day.value_or(settings_.recipients_per_day));
    if (const auto* credential = policy.limits_of_credential(credential_id))
        scopes.push_back(ScopedLimits{credential_scope(credential->credential_id),
                                      recipient_limits(credential->limits), 0});
    auto over = co_await take_quota(policy, std::move(scopes));
    co_return over;
}

boost::asio::awaitable<std::optional<smtp::PolicyVerdict>> SubmissionPolicy::take_quota(
    const AccountPolicy& policy, std::vector<ScopedLimits> scopes, std::uint64_t n) {
    auto taken = co_await limiter_.acquire(policy.account_id, std::move(scopes), n,
                                           std::chrono::system_clock::now());
    if (!taken) {
        spdlog::warn("policy: rate limits of account {} not checked: {}", policy.account_id,
                     taken.error().message);
        co_return smtp::PolicyVerdict::refuse(smtp::reply::policy_unavailable(),
                                              smtp::Refusal::unavailable);
    }
    if (!*taken) co_return std::nullopt;
    const LimitExceeded& exceeded = **taken;
    // Webhooks hear of the account's own limits (docs/webhooks.md), never waited for.
    if (exceeded.scope.empty())
        limit_events_.reached(co_await boost::asio::this_coro::executor, policy.account_id,
                              std::string(name_of(exceeded.limit)), exceeded.value,
                              exceeded.resets_at);
    co_return limit_refusal(policy, exceeded);
}

boost::asio::awaitable<smtp::PolicyVerdict> SubmissionPolicy::judge_sub_user(
    const AccountPolicy& policy, const smtp::PolicyQuery& query, std::string_view message,
    Judgement& judgement) {
    using smtp::PolicyVerdict;
    // An account that has not named a header trusts none: the field stays ordinary text.
    if (policy.sub_user_header.empty()) co_return PolicyVerdict::proceed();
    const auto field = smtp::read_sub_user(message, policy.sub_user_header);
    using Kind = smtp::SubUserField::Kind;
    switch (field.kind) {
        case Kind::absent:
            co_return PolicyVerdict::proceed();
        case Kind::several:
            co_return PolicyVerdict::refuse(
                smtp::reply::bad_sub_user_header(policy.sub_user_header, "occurs more than once"),
                smtp::Refusal::sub_user_header);
        case Kind::invalid:
            co_return PolicyVerdict::refuse(
                smtp::reply::bad_sub_user_header(
                    policy.sub_user_header,
                    "is not a sub-user name (1 to 128 printable US-ASCII characters, no "
                    "spaces, no encoded-words)"),
                smtp::Refusal::sub_user_header);
        case Kind::found:
            break;
    }
    judgement.sub_user = field.sub_user;
    if (policy.strip_sub_user_header) judgement.strip_header = policy.sub_user_header;
    if (!policy.sub_user_limits.any()) co_return PolicyVerdict::proceed();
    std::vector<ScopedLimits> messages(1);
    messages.front() = ScopedLimits{sub_user_scope(field.sub_user),
                                    message_limits(policy.sub_user_limits), policy.max_sub_users};
    auto over = co_await take_quota(policy, std::move(messages));
    if (over) co_return std::move(*over);
    std::vector<ScopedLimits> recipients(1);
    recipients.front() =
        ScopedLimits{sub_user_scope(field.sub_user), recipient_limits(policy.sub_user_limits),
                     policy.max_sub_users};
    over = co_await take_quota(policy, std::move(recipients),
                               std::max<std::uint64_t>(1, query.recipients));
    if (over) co_return std::move(*over);
    co_return PolicyVerdict::proceed();
}

smtp::PolicyVerdict SubmissionPolicy::judge_held(const AccountPolicy& policy, Submitter submitter,
                                                 const std::string& sub_user,
                                                 std::uint64_t recipients) const {
    const auto bound = settings_.max_held_recipients;
    if (bound == 0) return smtp::PolicyVerdict::proceed();
    for (const auto& hold : policy.active_holds) {
        const bool holds_this = hold.credential_id ? hold.credential_id == submitter.credential_id
                                : hold.sub_user.empty() ? true
                                                        : hold.sub_user == sub_user;
        if (holds_this && hold.held + recipients > bound)
            return smtp::PolicyVerdict::refuse(smtp::reply::held_mail_full(),
                                               smtp::Refusal::held_mail_full);
    }
    return smtp::PolicyVerdict::proceed();
}

boost::asio::awaitable<smtp::PolicyVerdict> SubmissionPolicy::judge(Submitter submitter,
                                                                    const smtp::PolicyQuery& query,
                                                                    std::string_view message,
                                                                    Judgement& judgement) {
    using smtp::PolicyVerdict;
    using smtp::Refusal;
    const auto account_id = submitter.account_id;
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
            std::vector<ScopedLimits> scopes(1);
            auto& limits = scopes.front().limits;
            limits.emplace_back(RateLimit::messages_per_minute,
                                policy.messages_per_minute.value_or(settings_.messages_per_minute));
            limits.emplace_back(RateLimit::messages_per_hour,
                                policy.messages_per_hour.value_or(settings_.messages_per_hour));
            limits.emplace_back(RateLimit::messages_per_day,
                                policy.messages_per_day.value_or(settings_.messages_per_day));
            // A credential with limits of its own: both must have room, in one lease.
            if (const auto* credential = policy.limits_of_credential(submitter.credential_id))
                scopes.push_back(ScopedLimits{credential_scope(credential->credential_id),
                                              message_limits(credential->limits), 0});
            auto over = co_await take_quota(policy, std::move(scopes));
            if (over) co_return std::move(*over);
            co_return verdict;
        }
        case smtp::PolicyStage::message: {
            const auto max_bytes = policy.max_message_bytes.value_or(settings_.max_message_bytes);
            if (max_bytes > 0 && message.size() > max_bytes)
                co_return PolicyVerdict::refuse(smtp::reply::message_too_big(),
                                                Refusal::message_size);
            auto verdict = judge_message(policy, message, settings_.sender_rules,
                                         settings_.max_received_headers);
            if (verdict.refused()) co_return verdict;
            auto sub_user = co_await judge_sub_user(policy, query, message, judgement);
            if (sub_user.refused()) co_return sub_user;
            co_return judge_held(policy, submitter, judgement.sub_user, query.recipients);
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
        auto over = co_await take_recipient_quota(policy, submitter.credential_id);
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
        auto over = co_await take_recipient_quota(policy, submitter.credential_id);
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
