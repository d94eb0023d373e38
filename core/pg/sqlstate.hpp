#pragma once
// What a PostgreSQL SQLSTATE (the five-character error code; PostgreSQL manual,
// appendix A "Error Codes") means to smarthost. Read here once, so the pool (may the work
// be retried later?), the migrations and the admin API (what is the client told?) cannot
// drift apart.

#include <string_view>

namespace smarthost::pg {

enum class SqlStateClass {
    // Anything not below, an empty code included: a bug or a refusal nobody planned for.
    other,
    // The server cannot be used right now, whatever the request: 08 connection exception,
    // 57P01..57P03 shutting down or not accepting connections yet, 53300 too many
    // connections. Retry later; such an Error has unavailable=true.
    unavailable,
    value_too_long,       // 22001 string_data_right_truncation
    number_out_of_range,  // 22003 numeric_value_out_of_range
    // Any other 22 data exception: text that is no value of the type (22P02), division by
    // zero (22012), ...
    invalid_value,
    check_violation,        // 23514: a CHECK constraint refused the row
    unique_violation,       // 23505 unique_violation
    foreign_key_violation,  // 23503 foreign_key_violation
    exclusion_violation,    // 23P01 exclusion_violation
    // 40P01 deadlock_detected, 40001 serialization_failure: PostgreSQL aborted the
    // transaction, which left nothing behind; running it again is safe.
    rolled_back,
    undefined_table,  // 42P01 undefined_table
};

SqlStateClass classify(std::string_view sqlstate);

}  // namespace smarthost::pg
