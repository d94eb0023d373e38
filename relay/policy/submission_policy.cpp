#include "relay/policy/submission_policy.hpp"

#include <spdlog/spdlog.h>

namespace smarthost::policy {

boost::asio::awaitable<smtp::PolicyVerdict> SubmissionPolicy::check(std::int64_t account_id,
                                                                    const smtp::PolicyQuery& query,
                                                                    std::string_view message) {
    using smtp::PolicyVerdict;
    auto account = co_await accounts_.get(account_id);
    if (!account) {
        spdlog::warn("policy: account {} not loaded: {}", account_id, account.error().message);
        co_return PolicyVerdict::refuse(smtp::reply::policy_unavailable());
    }
    const AccountPolicy& policy = **account;
    switch (query.stage) {
        case smtp::PolicyStage::sender:
            co_return judge_sender(policy, query.address, settings_.sender_rules);
        case smtp::PolicyStage::message:
            co_return judge_message(policy, message, settings_.sender_rules);
        case smtp::PolicyStage::recipient:
            break;
    }
    if (!policy.has_suppressions) co_return PolicyVerdict::proceed();
    auto suppressed = co_await accounts_.suppression(account_id, query.address);
    if (!suppressed) {
        spdlog::warn("policy: suppression check for account {} failed: {}", account_id,
                     suppressed.error().message);
        co_return PolicyVerdict::refuse(smtp::reply::policy_unavailable());
    }
    if (!*suppressed) co_return PolicyVerdict::proceed();
    const std::string why =
        **suppressed == "operator" ? "suppressed by the operator" : "an earlier hard bounce";
    auto reply = smtp::reply::recipient_suppressed(query.address, why);
    if (settings_.bounce_suppressed) co_return PolicyVerdict::accept_and_bounce(std::move(reply));
    co_return PolicyVerdict::refuse(std::move(reply));
}

}  // namespace smarthost::policy
