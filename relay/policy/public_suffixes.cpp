#include "relay/policy/public_suffixes.hpp"

#include <vector>

#include "core/ascii.hpp"

namespace smarthost::policy {

PublicSuffixList PublicSuffixList::parse(std::string_view text) {
    PublicSuffixList list;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = std::min(text.find('\n', start), text.size());
        auto line = text.substr(start, end - start);
        start = end + 1;
        // The rule is the line's first word; the rest of it is ignored (the list's format).
        const auto word_end = std::min(line.find_first_of(" \t\r"), line.size());
        const auto rule = to_lower(line.substr(0, word_end));
        if (rule.empty() || rule.starts_with("//")) continue;
        if (rule.starts_with("!")) {
            list.exceptions_.insert(rule.substr(1));
        } else if (rule.starts_with("*.")) {
            list.wildcards_.insert(rule.substr(2));
        } else {
            list.rules_.insert(rule);
        }
    }
    return list;
}

std::string PublicSuffixList::organizational_domain(std::string_view domain) const {
    std::string name = to_lower(domain);
    // Offsets of each suffix: "a.b.c" → 0 ("a.b.c"), 2 ("b.c"), 4 ("c").
    std::vector<std::size_t> starts{0};
    for (std::size_t i = 0; i < name.size(); ++i)
        if (name[i] == '.') starts.push_back(i + 1);
    // The longest matching rule wins; an exception rule's suffix is one label shorter.
    std::size_t suffix_label = starts.size() - 1;  // no rule: the last label ("*")
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::string_view suffix = std::string_view(name).substr(starts[i]);
        if (exceptions_.contains(std::string(suffix))) {
            suffix_label = i + 1;
            break;
        }
        if (rules_.contains(std::string(suffix))) {
            suffix_label = i;
            break;
        }
        if (i + 1 < starts.size() &&
            wildcards_.contains(std::string(std::string_view(name).substr(starts[i + 1])))) {
            suffix_label = i;
            break;
        }
    }
    if (suffix_label == 0) return name;
    return name.substr(starts[suffix_label - 1]);
}

}  // namespace smarthost::policy
