#include "admin-api/time_range.hpp"

#include <array>

namespace smarthost::admin {
namespace {

struct NamedWindow {
    std::string_view name;
    std::int64_t seconds;
};
constexpr std::array<NamedWindow, 3> k_windows{{
    {"1h", 3600},
    {"24h", 24 * 3600},
    {"7d", 7 * 24 * 3600},
}};

// The digits at [at, at + count) as a number, or -1.
int digits(std::string_view text, std::size_t at, std::size_t count) {
    if (at + count > text.size()) return -1;
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
        if (text[i] < '0' || text[i] > '9') return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int days_in_month(int year, int month) {
    constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[static_cast<std::size_t>(month - 1)];
}

}  // namespace

bool is_rfc3339_timestamp(std::string_view text) {
    // full-date "T" partial-time time-offset: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
    const int year = digits(text, 0, 4);
    const int month = digits(text, 5, 2);
    const int day = digits(text, 8, 2);
    const int hour = digits(text, 11, 2);
    const int minute = digits(text, 14, 2);
    const int second = digits(text, 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 60)
        return false;
    if (text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return false;
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return false;
    if (day > days_in_month(year, month)) return false;
    std::size_t at = 19;
    if (at < text.size() && text[at] == '.') {
        const auto start = ++at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9')
            ++at;
        if (at == start) return false;
    }
    const auto offset = text.substr(std::min(at, text.size()));
    if (offset == "Z" || offset == "z") return true;
    if (offset.size() != 6 || (offset[0] != '+' && offset[0] != '-') || offset[3] != ':')
        return false;
    const int offset_hours = digits(offset, 1, 2);
    const int offset_minutes = digits(offset, 4, 2);
    return offset_hours >= 0 && offset_hours <= 23 && offset_minutes >= 0 && offset_minutes <= 59;
}

TimeRange read_time_range(const QueryParams& params, bool allow_window,
                          std::vector<FieldError>& errors) {
    TimeRange range;
    constexpr std::string_view timestamp_message =
        "must be an RFC 3339 timestamp such as 2026-11-25T13:50:00Z";
    for (const auto* name : {"from", "to"}) {
        auto value = query_value(params, name);
        if (!value) continue;
        if (!is_rfc3339_timestamp(*value))
            // A '+' offset sent unencoded arrives as a space (HTML form encoding).
            errors.push_back(
                {name, std::string(timestamp_message) + (value->find(' ', 11) != std::string::npos
                                                             ? " (write a '+' offset as %2B)"
                                                             : "")});
        else
            (std::string_view(name) == "from" ? range.from : range.to) = std::move(*value);
    }
    if (!allow_window) return range;
    if (const auto window = query_value(params, "window")) {
        for (const auto& named : k_windows)
            if (*window == named.name) range.window_seconds = named.seconds;
        if (!range.window_seconds)
            errors.push_back({"window", "must be 1h, 24h or 7d"});
        else if (query_value(params, "from"))
            errors.push_back({"window", "give either window or from, not both"});
    }
    return range;
}

}  // namespace smarthost::admin
