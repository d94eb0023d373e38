#pragma once
// Reads header fields of a message (RFC 5322 section 2.2), for tracking and policy.

#include <string>
#include <string_view>
#include <vector>

namespace smarthost::smtp {

// The unfolded value of the first header field called `name` (case-insensitive), with
// surrounding white space removed; empty when the header section has no such field.
std::string header_value(std::string_view message, std::string_view name);

// The unfolded values of every header field called `name`, in order (RFC 5322 section
// 3.6 limits how often some fields may occur, so their count matters).
std::vector<std::string> header_values(std::string_view message, std::string_view name);

inline std::string header_message_id(std::string_view message) {
    return header_value(message, "Message-ID");
}

}  // namespace smarthost::smtp
