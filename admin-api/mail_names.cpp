#include "admin-api/mail_names.hpp"

#include <algorithm>
#include <cctype>

#include "core/ascii.hpp"
#include "relay/smtp/address.hpp"

namespace smarthost::admin {
namespace {

// DNS names are at most 253 characters in text form (RFC 1035 section 2.3.4: 255 octets
// on the wire).
constexpr std::size_t k_dns_name_max = 253;

bool all_digits(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

std::optional<std::string> canonical_domain(std::string_view text, std::string& why) {
    if (text.ends_with('.')) text.remove_suffix(1);
    if (text.empty()) {
        why = "must not be empty";
        return std::nullopt;
    }
    if (text.size() > k_dns_name_max) {
        why = "must be at most 253 characters";
        return std::nullopt;
    }
    const auto last_dot = text.rfind('.');
    if (!smtp::is_domain(text) || last_dot == std::string_view::npos) {
        why = "must be a domain name such as example.com";
        return std::nullopt;
    }
    // A numeric top-level label is an IPv4 address, not a domain one can send as.
    if (all_digits(text.substr(last_dot + 1))) {
        why = "must be a domain name, not an address";
        return std::nullopt;
    }
    return to_lower(text);
}

std::optional<std::string> canonical_address(std::string_view text, std::string& why) {
    smtp::Mailbox mailbox;
    // A listener may accept longer local parts than RFC 5321's 64 octets (legacy senders),
    // and their hard bounces are suppressed: here only the path limit applies.
    smtp::AddressLimits limits;
    limits.local_part_octets = limits.path_octets;
    const auto error = smtp::parse_mailbox(text, false, mailbox, limits);
    // parse_mailbox accepts a source route and drops it; a stored address never has one.
    if (error == smtp::MailboxError::none && text.starts_with('@')) {
        why = "must be an address local@domain without a source route";
        return std::nullopt;
    }
    switch (error) {
        case smtp::MailboxError::none:
            return smtp::canonical_address(mailbox);
        case smtp::MailboxError::path_too_long:
        case smtp::MailboxError::local_part_too_long:
        case smtp::MailboxError::domain_too_long:
            why = "must be at most 254 characters";
            return std::nullopt;
        case smtp::MailboxError::no_domain:
        case smtp::MailboxError::syntax:
            break;
    }
    why = "must be an address local@domain";
    return std::nullopt;
}

}  // namespace smarthost::admin
