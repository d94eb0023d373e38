#pragma once
// The order of the policy checks of one mail transaction: the one place to read what
// happens at MAIL, at RCPT and after the final dot (docs/policy.md).
//
//   MAIL    (the session has already closed a session whose credential was revoked)
//           1. the client's DNSBL listing, when its action is tempfail: 451 4.7.1
//           2. the account's policy (SubmissionPolicy): suspension, sender domains, the
//              declared SIZE, the message rate limits
//           3. the sender domain's blocklist listing: a refusal, or tags for the header
//   RCPT    the account's policy: recipients per message, suppressions, recipient rates
//   message the account's policy: size, the From: header, the Received: loop count, then
//           the trusted sub-user header and the sub-user's limits
//   (a credential's own limits are taken with the account's, at MAIL and RCPT)
//
// Every refusal is recorded in the account's `rejections` under the verdict's reason.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/policy/dnsbl.hpp"
#include "relay/policy/rejection_log.hpp"
#include "relay/policy/submission_policy.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::policy {

struct MailCheck {
    smtp::PolicyVerdict verdict;
    std::string sender_domain_tags;  // at MAIL: tag-action listings of the sender domain
    // At the final dot: the sub-user the account's trusted header named (empty: none), and
    // the header to remove before signing (empty: none).
    std::string sub_user;
    std::string strip_header;
};

struct MailClient {
    std::int64_t account_id = 0;
    std::optional<std::int64_t> credential_id;  // empty for allow-listed networks
    std::string_view ip;
    const BlocklistResult& listing;  // what the DNSBL zones said of `ip` at connect
};

boost::asio::awaitable<MailCheck> check_mail(SubmissionPolicy& policy, Blocklists& blocklists,
                                             RejectionLog& rejections, MailClient client,
                                             smtp::PolicyQuery query, std::string_view message);

}  // namespace smarthost::policy
