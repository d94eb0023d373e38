#pragma once
// The "scanning" object of an account in the account routes (docs/scanning.md): whether
// its mail is scanned by rspamd and its action thresholds; null resets a field to the
// [scanning] default of the configuration.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pg/statement.hpp"

namespace smarthost::admin {

class FieldReader;

struct ScanningChange {
    // Absent (nullopt), null (an empty inner optional) or a value, per field.
    std::optional<std::optional<bool>> enabled;
    std::array<std::optional<std::optional<double>>, 3> scores;  // add_header, hold, reject
};

// Reads "scanning" when present: "enabled" a boolean, the scores numbers within
// -1000..1000 and, those given, ordered add_header_score <= hold_score <= reject_score.
ScanningChange read_scanning(FieldReader& fields);

// The columns of accounts, in ScanningChange's order (enabled, then the scores).
inline constexpr std::array<std::string_view, 4> k_scanning_columns{
    "scan_enabled", "scan_add_header_score", "scan_hold_score", "scan_reject_score"};
inline constexpr std::array<std::string_view, 4> k_scanning_sql_types{
    "boolean", "double precision", "double precision", "double precision"};

// json_build_object('enabled', t.scan_enabled, ...) for the account's JSON.
std::string scanning_json();

// One parameter per column (NULL when absent or null), for an INSERT.
void append_insert_params(const ScanningChange& change, std::vector<pg::Param>& params);
// A (present, value) pair per column, for an UPDATE that keeps absent fields.
void append_update_params(const ScanningChange& change, std::vector<pg::Param>& params);

// The CHECK of schema/0015_content_scan.sql that a change breaks with the stored values.
inline constexpr std::string_view k_thresholds_order_constraint = "accounts_scan_thresholds_order";

}  // namespace smarthost::admin
