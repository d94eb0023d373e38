#include "relay/smtp/message_headers.hpp"

#include "relay/smtp/command_parser.hpp"

namespace smarthost::smtp {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Header values are capped: tracking needs an identifier, not an attacker's megabyte.
constexpr std::size_t k_max_value_bytes = 998;

}  // namespace

std::vector<std::string> header_values(std::string_view message, std::string_view name) {
    std::vector<std::string> values;
    std::size_t pos = 0;
    while (pos < message.size()) {
        const auto eol = message.find("\r\n", pos);
        const auto line = message.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
        if (line.empty()) break;  // end of the header section
        std::size_t next = eol == std::string_view::npos ? message.size() : eol + 2;
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name)) {
            std::string value(trim(line.substr(colon + 1)));
            // Continuation lines start with white space (folding, RFC 5322 2.2.3).
            while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
                const auto more_end = message.find("\r\n", next);
                const auto more = message.substr(
                    next, more_end == std::string_view::npos ? more_end : more_end - next);
                value += ' ';
                value += trim(more);
                next = more_end == std::string_view::npos ? message.size() : more_end + 2;
            }
            value = std::string(trim(value));
            if (value.size() > k_max_value_bytes) value.resize(k_max_value_bytes);
            values.push_back(std::move(value));
        }
        if (eol == std::string_view::npos) break;
        pos = next;
    }
    return values;
}

std::string header_value(std::string_view message, std::string_view name) {
    auto values = header_values(message, name);
    return values.empty() ? std::string() : std::move(values.front());
}

}  // namespace smarthost::smtp
