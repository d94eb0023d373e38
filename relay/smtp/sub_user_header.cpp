#include "relay/smtp/sub_user_header.hpp"

#include <array>
#include <utility>
#include <vector>

#include "relay/smtp/command_parser.hpp"
#include "relay/smtp/message_headers.hpp"

namespace smarthost::smtp {
namespace {

// Fields whose meaning the relay, the recipients or the signatures rely on.
constexpr std::array<std::string_view, 27> k_structural_fields{
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Subject",
    "Date",
    "Received",
    "Return-Path",
    "DKIM-Signature",
    "Domainkey-Signature",
    "Authentication-Results",
    "MIME-Version",
    "Delivered-To",
    "Received-SPF",
    "Comments",
    "Keywords",
    "Original-Recipient",
    "Disposition-Notification-To",
    "Autocrypt",
    "Precedence",
    "Auto-Submitted",
    "Feedback-ID",
};
constexpr std::array<std::string_view, 6> k_structural_prefixes{
    "Content-", "Resent-", "ARC-", "List-", "X-Smarthost-", "DKIM-",
};

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

}  // namespace

std::optional<std::string> sub_user_header_problem(std::string_view name) {
    if (name.empty()) return "must not be empty";
    if (name.size() > k_max_sub_user_header_name)
        return "must be at most " + std::to_string(k_max_sub_user_header_name) + " characters";
    for (const unsigned char c : name)
        if (c < 33 || c > 126 || c == ':')
            return "must be a header field name: printable US-ASCII without ':' or spaces";
    for (const auto field : k_structural_fields)
        if (iequals(name, field)) return std::string(field) + " is not a header to trust";
    for (const auto prefix : k_structural_prefixes)
        if (starts_with_ignoring_case(name, prefix))
            return std::string(prefix) + "* fields are not headers to trust";
    return std::nullopt;
}

std::optional<std::string> normalize_sub_user(std::string_view raw_value) {
    // Unfolding never lengthens a value; a value past a line's worth is refused unread.
    auto value = unfolded_value(raw_value, 998);
    if (!value || value->empty() || value->size() > k_max_sub_user_octets) return std::nullopt;
    if (value->find("=?") != std::string::npos) return std::nullopt;
    for (char& c : *value) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet < 33 || octet > 126) return std::nullopt;
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return value;
}

SubUserField read_sub_user(std::string_view message, std::string_view header_name) {
    SubUserField result;
    HeaderFieldReader reader(message);
    std::optional<std::string_view> raw;
    while (const auto field = reader.next()) {
        if (!iequals(field->name, header_name)) continue;
        if (raw) {
            result.kind = SubUserField::Kind::several;
            return result;
        }
        raw = field->raw_value;
    }
    if (!raw) return result;
    auto sub_user = normalize_sub_user(*raw);
    if (!sub_user) {
        result.kind = SubUserField::Kind::invalid;
        return result;
    }
    result.kind = SubUserField::Kind::found;
    result.sub_user = std::move(*sub_user);
    return result;
}

std::size_t remove_header_fields(std::string& text, std::size_t offset,
                                 std::string_view header_name) {
    if (offset >= text.size()) return 0;
    const std::string_view message = std::string_view(text).substr(offset);
    // Field ranges as offsets in `text`, from the field's first octet through its CRLF.
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    HeaderFieldReader reader(message);
    while (const auto field = reader.next()) {
        if (!iequals(field->name, header_name)) continue;
        // A field's line cannot start with a blank, so its name starts the line.
        const auto begin = static_cast<std::size_t>(field->name.data() - text.data());
        auto end = static_cast<std::size_t>(field->raw_value.data() - text.data()) +
                   field->raw_value.size();
        if (text.compare(end, 2, "\r\n") == 0) end += 2;
        ranges.emplace_back(begin, end);
    }
    std::size_t removed = 0;
    for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
        text.erase(it->first, it->second - it->first);
        removed += it->second - it->first;
    }
    return removed;
}

}  // namespace smarthost::smtp
