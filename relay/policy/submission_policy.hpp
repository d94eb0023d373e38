#pragma once
// The policy checks of the submission path (docs/policy.md), answering the session
// machine's check_policy actions: sender at MAIL, recipient at RCPT, message after the
// final dot. Rate limits will join here.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "relay/policy/account_policies.hpp"
#include "relay/policy/sender_authorization.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::policy {

class SubmissionPolicy {
  public:
    struct Settings {
        SenderRules sender_rules;
        std::chrono::milliseconds account_cache_ttl{5000};
        // [policy] suppressed_recipients = "bounce": accept suppressed recipients and
        // bounce them at once instead of refusing them.
        bool bounce_suppressed = false;
    };

    SubmissionPolicy(pg::Pool& pool, Settings settings)
        : settings_(settings), accounts_(pool, settings.account_cache_ttl) {}

    // `message` is the data section as received (header section first); it is read only
    // for PolicyStage::message. A database failure is a 451 4.3.0 verdict: the client
    // keeps its mail and retries.
    boost::asio::awaitable<smtp::PolicyVerdict> check(std::int64_t account_id,
                                                      const smtp::PolicyQuery& query,
                                                      std::string_view message);

  private:
    Settings settings_;
    AccountPolicies accounts_;
};

}  // namespace smarthost::policy
