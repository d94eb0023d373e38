#pragma once
// Reads header fields of a stored message (RFC 5322 section 2.2), for tracking.

#include <string>
#include <string_view>

namespace smarthost::smtp {

// The unfolded value of the first header field called `name` (case-insensitive), with
// surrounding white space removed; empty when the header section has no such field.
std::string header_value(std::string_view message, std::string_view name);

inline std::string header_message_id(std::string_view message) {
    return header_value(message, "Message-ID");
}

}  // namespace smarthost::smtp
