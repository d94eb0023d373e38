#include "relay/policy/sender_authorization.hpp"

#include <algorithm>

#include "relay/policy/author_fields.hpp"
#include "relay/smtp/message_headers.hpp"

namespace smarthost::policy {
namespace {

bool has_usable_domain(const AccountPolicy& account, SenderRules rules) {
    return std::any_of(
        account.sender_domains.begin(), account.sender_domains.end(),
        [&](const SenderDomain& d) { return d.verified || !rules.require_verified; });
}

}  // namespace

smtp::PolicyVerdict judge_sender(const AccountPolicy& account, std::string_view sender,
                                 SenderRules rules) {
    using smtp::PolicyVerdict;
    using smtp::Refusal;
    if (!account.exists)
        return PolicyVerdict::refuse(smtp::reply::account_unknown(), Refusal::account_suspended);
    if (account.suspended) {
        return PolicyVerdict::refuse(
            smtp::reply::account_suspended(account.name, account.suspended_reason),
            Refusal::account_suspended);
    }
    if (sender.empty()) {
        // The null sender is for bounces (RFC 5321 section 4.5.5); customers' systems
        // rarely have a reason to send them, and spam hides behind them.
        if (account.may_send_null_sender) return PolicyVerdict::proceed();
        return PolicyVerdict::refuse(smtp::reply::null_sender_not_permitted(account.name),
                                     Refusal::sender_domain);
    }
    // No sender domain at all is no licence to send as anyone: never an open spoofer.
    if (!has_usable_domain(account, rules)) {
        return PolicyVerdict::refuse(smtp::reply::no_sender_domains(account.name),
                                     Refusal::sender_domain);
    }
    const auto domain = domain_of(sender);
    if (!domain_authorized(account.sender_domains, domain, rules.require_verified)) {
        return PolicyVerdict::refuse(smtp::reply::sender_domain_not_permitted(domain, account.name),
                                     Refusal::sender_domain);
    }
    return PolicyVerdict::proceed();
}

smtp::PolicyVerdict judge_message(const AccountPolicy& account, std::string_view message,
                                  SenderRules rules, std::size_t max_received_fields) {
    using smtp::PolicyVerdict;
    using smtp::Refusal;
    // RFC 5321 section 6.3: a message that has passed this many relays is looping.
    const auto received = smtp::count_header_fields(message, "Received");
    if (received > max_received_fields)
        return PolicyVerdict::refuse(smtp::reply::mail_loop(received, max_received_fields),
                                     Refusal::mail_loop);
    auto author = author_fields(message);
    if (!author.overlong_field.empty()) {
        return PolicyVerdict::refuse(
            smtp::reply::author_field_too_long(author.overlong_field, k_max_author_field_octets),
            Refusal::from_domain);
    }
    if (!author.problem.empty()) {
        return PolicyVerdict::refuse(smtp::reply::header_fields_invalid(author.problem),
                                     Refusal::from_header);
    }
    for (const auto& [field, address] : author.authors) {
        const auto domain = domain_of(address);
        if (!domain_authorized(account.sender_domains, domain, rules.require_verified)) {
            return PolicyVerdict::refuse(
                smtp::reply::header_author_not_permitted(field, domain, account.name),
                Refusal::from_domain);
        }
    }
    return PolicyVerdict::proceed();
}

}  // namespace smarthost::policy
