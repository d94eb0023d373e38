#pragma once
// Sender authorization (docs/policy.md): the account must be active, and the envelope
// sender and the author header fields must use the account's sender domains. Pure
// decisions on an AccountPolicy; the replies come from smtp::reply.

#include <cstddef>
#include <string_view>

#include "relay/policy/account_policy.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::policy {

// `require_verified` is [policy] sender_domain_verification: when false, every listed
// domain authorizes whatever its verification status (trusted single-tenant set-ups).
struct SenderRules {
    bool require_verified = true;
};

// At MAIL: account gone or suspended → 550 5.7.1; null sender without
// may_send_null_sender, no usable sender domain, or a domain not among them → 553 5.7.1.
smtp::PolicyVerdict judge_sender(const AccountPolicy& account, std::string_view sender,
                                 SenderRules rules);

// After the final dot: more than `max_received_fields` Received: fields is a mail loop
// (554 5.4.6); the author fields must follow RFC 5322 section 3.6 (550 5.6.0), none may be
// longer than k_max_author_field_octets (550 5.7.1), and every mailbox of From:, Sender:,
// Resent-From: and Resent-Sender: must use a sender domain of the account (550 5.7.1).
smtp::PolicyVerdict judge_message(const AccountPolicy& account, std::string_view message,
                                  SenderRules rules, std::size_t max_received_fields);

}  // namespace smarthost::policy
