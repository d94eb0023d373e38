#pragma once
// The author of a message as its header section states it (RFC 5322 section 3.6.2):
// the From: field's mailboxes, and the rules on how often From: and Sender: occur.

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

struct AuthorFields {
    std::vector<std::string> from_addresses;  // at least one when problem is empty
    std::string problem;                      // what breaks RFC 5322 section 3.6, if anything
};

// RFC 5322 section 3.6: exactly one From: field holding one or more mailboxes; at most one
// Sender: field, holding exactly one mailbox, which must be present when From: holds
// several.
AuthorFields author_fields(std::string_view message);

}  // namespace smarthost::policy
