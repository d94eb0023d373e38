#pragma once
// The policy checks of the submission path (docs/policy.md), answering the session
// machine's check_policy actions: sender at MAIL, recipient at RCPT, message after the
// final dot.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "relay/policy/account_policies.hpp"
#include "relay/policy/limit_events.hpp"
#include "relay/policy/rate_limiter.hpp"
#include "relay/policy/sender_authorization.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::policy {

// Who submits: the account, and the credential when the session logged in (its own limits
// hold beside the account's).
struct Submitter {
    std::int64_t account_id = 0;
    std::optional<std::int64_t> credential_id;
};

// A verdict and what the message check learnt on the way.
struct Judgement {
    smtp::PolicyVerdict verdict;
    // At the message stage, from the account's trusted header (docs/policy.md "Sub-users"):
    // the sub-user it named (empty: none), and the header to remove before the message is
    // signed and stored (empty: keep every field).
    std::string sub_user;
    std::string strip_header;
};

class SubmissionPolicy {
  public:
    struct Settings {
        SenderRules sender_rules;
        std::chrono::milliseconds account_cache_ttl{5000};
        // [policy] suppressed_recipients = "bounce": accept suppressed recipients and
        // bounce them at once instead of refusing them.
        bool bounce_suppressed = false;
        // [smtp] max_received_headers: more Received: fields is a mail loop (554 5.4.6).
        std::size_t max_received_headers = 50;
        // Defaults for accounts without their own value; 0: no limit.
        std::uint64_t messages_per_minute = 0;
        std::uint64_t messages_per_hour = 0;
        std::uint64_t messages_per_day = 0;
        std::uint64_t recipients_per_hour = 0;
        std::uint64_t recipients_per_day = 0;
        // Per message; 0: only the listener's own limits apply.
        std::uint64_t recipients_per_message = 0;
        std::uint64_t max_message_bytes = 0;
        std::uint64_t max_connections = 0;  // concurrent sessions of an account; 0: none
        // [abuse] max_held_recipients: new mail of a held unit is deferred past it; 0: none.
        std::uint64_t max_held_recipients = 0;
        RateLimiter::Settings rate_limiter;
    };

    SubmissionPolicy(pg::Pool& pool, Settings settings)
        : pool_(pool),
          settings_(settings),
          accounts_(pool, settings.account_cache_ttl),
          limiter_(pool, settings.rate_limiter),
          limit_events_(pool) {
        accounts_.set_held_bound(settings.max_held_recipients);
    }

    // SIGHUP: later checks use these settings (checks under way finish with the old).
    void reconfigure(const Settings& settings) {
        settings_ = settings;
        accounts_.set_cache_ttl(settings.account_cache_ttl);
        accounts_.set_held_bound(settings.max_held_recipients);
        limiter_.reconfigure(settings.rate_limiter);
    }
    const Settings& settings() const { return settings_; }

    // `message` is the data section as received (header section first); it is read only
    // for PolicyStage::message. A database failure is a 451 4.3.0 verdict: the client
    // keeps its mail and retries.
    boost::asio::awaitable<Judgement> check(Submitter submitter, const smtp::PolicyQuery& query,
                                            std::string_view message);
    boost::asio::awaitable<smtp::PolicyVerdict> check(std::int64_t account_id,
                                                      const smtp::PolicyQuery& query,
                                                      std::string_view message);

    // The account's limit of concurrent sessions (0: none), from the cached account
    // policy. When the database cannot answer, the configured default: the session is
    // still counted, and the next MAIL needs the database anyway.
    // The account's policy as the checks see it (cached), for signing at acceptance.
    boost::asio::awaitable<Result<std::shared_ptr<const AccountPolicy>>> account(
        std::int64_t account_id) {
        return accounts_.get(account_id);
    }
    boost::asio::awaitable<std::uint64_t> connection_limit(std::int64_t account_id);

  private:
    // Takes n units of each limit of each scope for the account: nullopt to proceed, or
    // the refusal (451 4.7.1 for the limit reached, 451 4.3.0 without the database).
    boost::asio::awaitable<std::optional<smtp::PolicyVerdict>> take_quota(
        const AccountPolicy& policy, std::vector<ScopedLimits> scopes, std::uint64_t n = 1);

    boost::asio::awaitable<std::optional<smtp::PolicyVerdict>> take_recipient_quota(
        const AccountPolicy& policy, std::optional<std::int64_t> credential_id);
    // A message of a held unit when its hold already has max_held_recipients waiting.
    smtp::PolicyVerdict judge_held(const AccountPolicy& policy, Submitter submitter,
                                   const std::string& sub_user, std::uint64_t recipients) const;
    // The trusted sub-user header of a message that passed the other checks.
    boost::asio::awaitable<smtp::PolicyVerdict> judge_sub_user(const AccountPolicy& policy,
                                                               const smtp::PolicyQuery& query,
                                                               std::string_view message,
                                                               Judgement& judgement);
    // The verdict; what the message check learns on the way goes to `judgement`.
    boost::asio::awaitable<smtp::PolicyVerdict> judge(Submitter submitter,
                                                      const smtp::PolicyQuery& query,
                                                      std::string_view message,
                                                      Judgement& judgement);

    pg::Pool& pool_;
    Settings settings_;
    AccountPolicies accounts_;
    RateLimiter limiter_;
    LimitEvents limit_events_;  // limit.reached webhook events, never waited for
};

}  // namespace smarthost::policy
