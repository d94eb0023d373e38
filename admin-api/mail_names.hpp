#pragma once
// Domains and addresses as the admin API stores them: validated with the SMTP grammar
// (relay/smtp/address.hpp) and lower-cased, since mail domains and, in practice, the
// addresses operators manage compare case-insensitively.

#include <optional>
#include <string>
#include <string_view>

namespace smarthost::admin {

// A sender domain: at least two labels of letters, digits and hyphens, at most 253
// characters (so that "<label>.<domain>" of the verification record still fits a DNS
// name), one trailing dot dropped. Lower-cased; nullopt with `why` set otherwise.
std::optional<std::string> canonical_domain(std::string_view text, std::string& why);

// A mailbox "local@domain" (RFC 5321 section 4.1.2, ASCII), lower-cased.
std::optional<std::string> canonical_address(std::string_view text, std::string& why);

}  // namespace smarthost::admin
