#pragma once
// Time ranges in query strings: RFC 3339 timestamps (`from`, `to`) or a named window
// (`window=1h|24h|7d`, ending now). Checked here so a bad value is a 422 naming its
// parameter; PostgreSQL then reads the same text as timestamptz.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin-api/pagination.hpp"
#include "admin-api/problem.hpp"

namespace smarthost::admin {

// "2026-11-25T13:50:00Z", "2026-11-25T13:50:00.5+01:00" (RFC 3339 section 5.6, with a
// real calendar date; 't', 'z' and a space for 'T' are allowed, as section 5.6 notes).
bool is_rfc3339_timestamp(std::string_view text);

struct TimeRange {
    std::optional<std::string> from;  // RFC 3339; nullopt: unbounded (or the window)
    std::optional<std::string> to;    // RFC 3339; nullopt: now
    std::optional<std::int64_t> window_seconds;
};

// Reads `from` and `to`; with `allow_window`, also `window` (which excludes `from`).
// Appends a FieldError per bad parameter.
TimeRange read_time_range(const QueryParams& params, bool allow_window,
                          std::vector<FieldError>& errors);

}  // namespace smarthost::admin
