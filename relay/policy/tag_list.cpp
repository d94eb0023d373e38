#include "relay/policy/tag_list.hpp"

namespace smarthost::policy {

std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

std::optional<std::vector<Tag>> parse_tag_list(std::string_view text) {
    std::vector<Tag> tags;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto end = std::min(text.find(';', start), text.size());
        const auto part = trim_blanks(text.substr(start, end - start));
        start = end + 1;
        if (part.empty()) continue;
        const auto equals = part.find('=');
        if (equals == std::string_view::npos) return std::nullopt;
        const auto name = trim_blanks(part.substr(0, equals));
        if (name.empty()) return std::nullopt;
        tags.push_back(Tag{name, trim_blanks(part.substr(equals + 1))});
    }
    return tags;
}

}  // namespace smarthost::policy
