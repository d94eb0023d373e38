#pragma once
// The trusted sub-user header (docs/policy.md "Sub-users"): an account may name a header
// field (X-AuthUser, as cPanel and Plesk set it) whose value says which of its sites or
// mailboxes sent a message. Pure: reading, normalizing and removing the field, and checking
// the name an operator configures.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace smarthost::smtp {

// A sub-user name is at most this long once normalized (messages.sub_user's CHECK).
inline constexpr std::size_t k_max_sub_user_octets = 128;
// A configured field name is at most this long (accounts.sub_user_header's CHECK).
inline constexpr std::size_t k_max_sub_user_header_name = 64;

// Why `name` cannot be the trusted header, or nullopt when it can: it must be an RFC 5322
// field name (printable US-ASCII but ':', section 3.6.8) and not a field the message's
// structure, routing, authorship or signatures rest on (From, To, Received,
// DKIM-Signature, Content-*, Resent-*, ...): stripping or trusting one of those would
// change what the message is.
std::optional<std::string> sub_user_header_problem(std::string_view name);

// The sub-user named by a raw header value: unfolded, trimmed, lower-cased. nullopt when
// it is not a plain identifier: empty, longer than k_max_sub_user_octets, any octet
// outside printable US-ASCII (spaces inside, controls, 8-bit), or an RFC 2047
// encoded-word ("=?"), which would let two spellings name one sub-user.
std::optional<std::string> normalize_sub_user(std::string_view raw_value);

struct SubUserField {
    enum class Kind {
        absent,   // no such field: the message has no sub-user
        found,    // exactly one, with a valid value: `sub_user`
        several,  // more than one field: refused (which one would be the panel's?)
        invalid,  // one field whose value normalize_sub_user() refuses
    };
    Kind kind = Kind::absent;
    std::string sub_user;
};

// Reads the field called `header_name` (case-insensitive) from the message's top-level
// header section only: a field of the same name in the body or in a MIME part after a
// boundary is body text and counts for nothing.
SubUserField read_sub_user(std::string_view message, std::string_view header_name);

// Removes every field called `header_name` (with its continuation lines) from the
// top-level header section of the message that starts at `offset` in `text`; the rest is
// left byte for byte. Returns the octets removed.
std::size_t remove_header_fields(std::string& text, std::size_t offset,
                                 std::string_view header_name);

}  // namespace smarthost::smtp
