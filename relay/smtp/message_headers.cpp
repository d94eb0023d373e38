#include "relay/smtp/message_headers.hpp"

#include "relay/smtp/command_parser.hpp"

namespace smarthost::smtp {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back()))
        s.remove_suffix(1);
    return s;
}

constexpr std::size_t k_max_tracked_value_bytes = 998;  // RFC 5322 section 2.1.1

}  // namespace

std::optional<HeaderField> HeaderFieldReader::next() {
    while (!rest_.empty()) {
        const auto first_end = rest_.find("\r\n");
        const auto first_line = rest_.substr(0, first_end);
        if (first_line.empty()) {  // the empty line that ends the header section
            rest_ = {};
            return std::nullopt;
        }
        // The field runs over every following line that starts with white space.
        std::size_t end = first_end == std::string_view::npos ? rest_.size() : first_end;
        std::size_t next = first_end == std::string_view::npos ? rest_.size() : first_end + 2;
        while (next < rest_.size() && is_blank(rest_[next])) {
            const auto more_end = rest_.find("\r\n", next);
            end = more_end == std::string_view::npos ? rest_.size() : more_end;
            next = more_end == std::string_view::npos ? rest_.size() : more_end + 2;
        }
        const auto field = rest_.substr(0, end);
        rest_.remove_prefix(next);
        if (is_blank(first_line.front())) continue;  // a continuation of nothing
        const auto colon = first_line.find(':');
        if (colon == std::string_view::npos) continue;
        return HeaderField{trim(field.substr(0, colon)), field.substr(colon + 1)};
    }
    return std::nullopt;
}

std::optional<std::string> unfolded_value(std::string_view raw_value, std::size_t max_bytes) {
    std::string value;
    for (;;) {
        const auto eol = raw_value.find("\r\n");
        const auto line = trim(raw_value.substr(0, eol));
        if (!line.empty()) {
            const std::size_t added = line.size() + (value.empty() ? 0 : 1);
            if (value.size() + added > max_bytes) return std::nullopt;
            if (!value.empty()) value += ' ';
            value += line;
        }
        if (eol == std::string_view::npos) return value;
        raw_value.remove_prefix(eol + 2);
    }
}

std::size_t count_header_fields(std::string_view message, std::string_view name) {
    std::size_t count = 0;
    HeaderFieldReader reader(message);
    while (const auto field = reader.next())
        if (iequals(field->name, name)) ++count;
    return count;
}

std::vector<std::string> header_values(std::string_view message, std::string_view name) {
    std::vector<std::string> values;
    HeaderFieldReader reader(message);
    while (const auto field = reader.next()) {
        if (!iequals(field->name, name)) continue;
        // Unfolding never lengthens a value, so this always succeeds; then it is cut.
        auto value = unfolded_value(field->raw_value, field->raw_value.size()).value();
        if (value.size() > k_max_tracked_value_bytes) value.resize(k_max_tracked_value_bytes);
        values.push_back(std::move(value));
    }
    return values;
}

std::string header_value(std::string_view message, std::string_view name) {
    auto values = header_values(message, name);
    return values.empty() ? std::string() : std::move(values.front());
}

}  // namespace smarthost::smtp
