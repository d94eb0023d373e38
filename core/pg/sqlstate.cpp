#include "core/pg/sqlstate.hpp"

namespace smarthost::pg {

SqlStateClass classify(std::string_view sqlstate) {
    if (sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
        sqlstate == "57P03" || sqlstate == "53300") {
        return SqlStateClass::unavailable;
    }
    if (sqlstate == "22001") return SqlStateClass::value_too_long;
    if (sqlstate == "22003") return SqlStateClass::number_out_of_range;
    if (sqlstate.starts_with("22")) return SqlStateClass::invalid_value;
    if (sqlstate == "23514") return SqlStateClass::check_violation;
    if (sqlstate == "23505") return SqlStateClass::unique_violation;
    if (sqlstate == "23503") return SqlStateClass::foreign_key_violation;
    if (sqlstate == "23P01") return SqlStateClass::exclusion_violation;
    if (sqlstate == "40P01" || sqlstate == "40001") return SqlStateClass::rolled_back;
    if (sqlstate == "42P01") return SqlStateClass::undefined_table;
    return SqlStateClass::other;
}

}  // namespace smarthost::pg
