#pragma once
// tag=value lists, as DKIM key records (RFC 6376 section 3.2) and DMARC records (RFC 7489
// section 6.4, the same syntax) are written: "v=DKIM1; k=rsa; p=MIIB...". Pure.

#include <optional>
#include <string_view>
#include <vector>

namespace smarthost::policy {

struct Tag {
    std::string_view name;  // as written (DKIM's are case-sensitive, DMARC's are not)
    std::string_view value;
};

// Spaces and tabs off both ends.
std::string_view trim_blanks(std::string_view text);

// The tags in order, names and values trimmed; empty parts (a trailing ';') are skipped.
// nullopt when a part is not name=value.
std::optional<std::vector<Tag>> parse_tag_list(std::string_view text);

}  // namespace smarthost::policy
