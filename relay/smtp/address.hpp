#pragma once
// The address grammar of RFC 5321 section 4.1.2 (with the UTF-8 extensions of RFC 6531):
// mailboxes, domains and address literals.

#include <cstddef>
#include <string>
#include <string_view>

namespace smarthost::smtp {

struct Mailbox {
    std::string local_part;       // as written, quotes included
    std::string domain;           // as written; empty when the path had no "@domain"
    std::string address() const;  // local_part "@" domain, or local_part alone
};

// RFC 5321 section 4.5.3.1: every server MUST accept a local part of 64 octets and a path
// of 256, so these are the defaults and the least a listener may be configured to; a larger
// value serves legacy senders (long VERP or SRS local parts). A domain is never longer
// than 255 octets: the DNS has no longer names (RFC 1035 section 2.3.4).
struct AddressLimits {
    std::size_t local_part_octets = 64;  // section 4.5.3.1.1, as written (quotes included)
    std::size_t path_octets = 256;       // section 4.5.3.1.3, angle brackets and route included
};

inline constexpr std::size_t k_max_domain_octets = 255;  // RFC 5321 section 4.5.3.1.2

enum class MailboxError {
    none,
    syntax,               // not a Path per RFC 5321 section 4.1.2
    path_too_long,        // longer than AddressLimits::path_octets
    local_part_too_long,  // longer than AddressLimits::local_part_octets
    domain_too_long,      // longer than k_max_domain_octets
    no_domain,            // a bare local part ("postmaster"); the grammar is otherwise valid
};

// Parses the text between the angle brackets of a Path. A source route
// ("@relay1,@relay2:user@domain") is accepted and dropped: RFC 5321 section 4.1.1.3 and
// appendix C say a server SHOULD ignore it, and dropping it means routing never depends
// on client-chosen relays. `utf8` allows non-ASCII UTF-8 in the local part and domain
// (RFC 6531, only when MAIL carried SMTPUTF8). The lengths are checked before the syntax
// of the part they measure.
MailboxError parse_mailbox(std::string_view path, bool utf8, Mailbox& out,
                           const AddressLimits& limits = {});

// The one form in which the relay compares addresses (suppressions, at RCPT, at a hard
// bounce and in the admin API), so that one mailbox has one spelling:
// - a quoted local part that needs no quotes loses them ("bob"@x is bob@x, RFC 5321
//   section 4.1.2 makes them the same mailbox), and inside quotes only '"' and '\' stay
//   escaped;
// - ASCII letters are lower-cased, in the local part too: RFC 5321 section 2.4 lets a
//   mailbox be case-sensitive, but suppressions are not evaded by changing case;
// - each domain label with non-ASCII characters (SMTPUTF8) becomes its A-label, "xn--"
//   and its Punycode (RFC 5890 section 2.3.2.1), so bücher.example is xn--bcher-kva.example.
//   Non-ASCII characters are neither case-mapped nor NFC-normalised, which needs Unicode
//   tables: a label with an upper-case or decomposed letter is not a valid IDNA2008 U-label
//   (RFC 5891 section 5.3), and stays a different domain.
std::string canonical_address(const Mailbox& mailbox);
// The same for an address held as text "local@domain" (a stored recipient, an operator's
// entry), read with UTF-8 allowed and without length limits. Text that is no address is
// only ASCII-lower-cased.
std::string canonical_address(std::string_view address);

// Domain = sub-domain *("." sub-domain): no empty labels, no trailing dot, labels of at
// most 63 octets and the whole at most 255. `allow_underscore` is for EHLO names, where
// real clients send NetBIOS-style names; `utf8` admits U-labels.
bool is_domain(std::string_view text, bool allow_underscore = false, bool utf8 = false);

// "[1.2.3.4]" or "[IPv6:...]" (RFC 5321 section 4.1.3).
bool is_address_literal(std::string_view text);

// Well-formed UTF-8 (RFC 3629): no overlongs, no surrogates, nothing past U+10FFFF.
bool is_valid_utf8(std::string_view text);

}  // namespace smarthost::smtp
