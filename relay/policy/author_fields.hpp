#pragma once
// The authors of a message as its header section states them (RFC 5322 sections 3.6.2
// and 3.6.6): the mailboxes of From:, Sender: and the Resent- fields, and the rules on how
// often they occur.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost::policy {

// The addr-specs ("local@domain") of an RFC 5322 mailbox-list such as a From: value:
// display names, comments and obsolete routes dropped. nullopt when the value is not
// a mailbox list (no mailbox, a mailbox without a domain, a group, unbalanced quotes,
// comments or angle brackets).
std::optional<std::vector<std::string>> mailbox_list_addresses(std::string_view value);

// Author fields longer than this (unfolded) are refused, not cut: a cut would drop the
// mailboxes behind it from the sender-domain check. 998 octets is a line of RFC 5322
// section 2.1.1.
inline constexpr std::size_t k_max_author_field_octets = 998;

// One mailbox of an author field.
struct Author {
    std::string_view field;  // "From", "Sender", "Resent-From" or "Resent-Sender"
    std::string address;     // its addr-spec, "local@domain"
};

struct AuthorFields {
    // Every mailbox of From:, Sender:, Resent-From: and Resent-Sender:, in that order; at
    // least one (From:) when problem and overlong_field are empty.
    std::vector<Author> authors;
    std::string problem;  // what breaks RFC 5322 section 3.6, if anything
    // The first author field longer than k_max_author_field_octets ("Sender"), if any.
    std::string_view overlong_field;
};

// RFC 5322 section 3.6: exactly one From: field holding one or more mailboxes; at most one
// Sender: field, holding exactly one mailbox, which must be present when From: holds
// several. Section 3.6.6: every Resent-From: holds mailboxes, every Resent-Sender: one
// (a message resent several times has several of each).
AuthorFields author_fields(std::string_view message);

}  // namespace smarthost::policy
