#include "core/pg/statement.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <stdexcept>
#include <utility>

namespace smarthost::pg {

Param null_param() {
    return Param{};
}
Param text(std::string value) {
    return Param{std::move(value), false, std::nullopt};
}
Param bytes(std::string value) {
    return Param{std::move(value), true, std::nullopt};
}
Param borrowed_bytes(std::string_view value) {
    return Param{std::nullopt, true, value};
}
Param to_param(std::string_view value) {
    return text(std::string(value));
}
Param to_param(const std::string& value) {
    return text(value);
}
Param to_param(const char* value) {
    return value ? text(value) : null_param();
}
Param to_param(std::int64_t value) {
    return text(std::to_string(value));
}
Param to_param(int value) {
    return text(std::to_string(value));
}
Param to_param(bool value) {
    return text(value ? "true" : "false");
}

namespace {

const PGresult* as_result(const std::shared_ptr<void>& result) {
    return static_cast<const PGresult*>(result.get());
}

}  // namespace

Rows::Rows() = default;

Rows::Rows(void* pg_result)
    : result_(pg_result, [](void* result) { PQclear(static_cast<PGresult*>(result)); }) {}

std::size_t Rows::size() const {
    return result_ ? static_cast<std::size_t>(PQntuples(as_result(result_))) : 0;
}

bool Rows::is_null(std::size_t row, std::size_t column) const {
    return PQgetisnull(as_result(result_), static_cast<int>(row), static_cast<int>(column)) == 1;
}

std::string_view Rows::get(std::size_t row, std::size_t column) const {
    const auto* result = as_result(result_);
    const int r = static_cast<int>(row);
    const int c = static_cast<int>(column);
    return {PQgetvalue(result, r, c), static_cast<std::size_t>(PQgetlength(result, r, c))};
}

std::int64_t Rows::get_int(std::size_t row, std::size_t column) const {
    const std::string_view value = get(row, column);
    std::int64_t number = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (ec != std::errc{} || end != value.data() + value.size()) {
        throw std::invalid_argument("not an integer: " + std::string(value));
    }
    return number;
}

bool Rows::get_bool(std::size_t row, std::size_t column) const {
    return get(row, column) == "t";
}

std::size_t Rows::affected() const {
    if (!result_) return 0;
    const std::string_view value = PQcmdTuples(const_cast<PGresult*>(as_result(result_)));
    std::size_t count = 0;
    std::from_chars(value.data(), value.data() + value.size(), count);
    return count;
}

}  // namespace smarthost::pg
