#pragma once
// Reads header fields of a message (RFC 5322 section 2.2), for tracking and policy.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost::smtp {

// One header field as the message holds it: the name without surrounding blanks, and the
// value after the colon with its folding (CRLF and the white space after it) still in.
struct HeaderField {
    std::string_view name;
    std::string_view raw_value;
};

// Reads the header section field by field, up to the empty line that ends it. A line that
// starts a field takes every continuation line after it (RFC 5322 section 2.2.3), so a
// folded line is never read as a field of its own; a line without a colon is skipped
// with its continuations. The views point into the message: nothing is copied.
class HeaderFieldReader {
  public:
    explicit HeaderFieldReader(std::string_view message) : rest_(message) {}
    std::optional<HeaderField> next();

  private:
    std::string_view rest_;
};

// The raw value unfolded: every line without its surrounding white space, the non-empty
// ones joined by one space. nullopt as soon as it would be longer than `max_bytes`, so a
// huge field costs no more than max_bytes of memory.
std::optional<std::string> unfolded_value(std::string_view raw_value, std::size_t max_bytes);

// How many header fields are called `name` (case-insensitive).
std::size_t count_header_fields(std::string_view message, std::string_view name);

// The unfolded value of the first header field called `name` (case-insensitive), with
// surrounding white space removed; empty when the header section has no such field.
std::string header_value(std::string_view message, std::string_view name);

// The unfolded values of every header field called `name`, in order, each cut at 998
// octets: for tracking, which needs an identifier and not an attacker's megabyte. Policy
// reads fields with HeaderFieldReader and refuses what it cannot read whole.
std::vector<std::string> header_values(std::string_view message, std::string_view name);

inline std::string header_message_id(std::string_view message) {
    return header_value(message, "Message-ID");
}

}  // namespace smarthost::smtp
