#pragma once
// What travels to and from PostgreSQL: bound parameters, the rows of a result, a statement
// of a transaction. Pool (pool.hpp) takes and returns these; nothing here does I/O.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost::pg {

// A bound parameter: NULL, text, or binary (bytea bodies travel in binary format).
struct Param {
    std::optional<std::string> value;
    bool binary = false;
    // With no value: bytes the statement's owner keeps alive until it has run (a message
    // body is sent from the one buffer it was received into, not from a copy).
    std::optional<std::string_view> borrowed;
};

Param null_param();
Param text(std::string value);
Param bytes(std::string value);  // binary format, for bytea
// Binary format, not copied: `value` must outlive the statement's execution.
Param borrowed_bytes(std::string_view value);
inline Param to_param(Param p) {
    return p;
}
Param to_param(std::string_view value);
Param to_param(const std::string& value);
Param to_param(const char* value);
Param to_param(std::int64_t value);
Param to_param(int value);
Param to_param(bool value);
template <class T>
Param to_param(const std::optional<T>& value) {
    return value ? to_param(*value) : null_param();
}

// Bound parameters from values, without a braced list (g++ 12 miscompiles braced lists
// of non-trivial types inside coroutines).
template <class... Args>
std::vector<Param> params_of(const Args&... args) {
    std::vector<Param> params;
    params.reserve(sizeof...(Args));
    (params.push_back(to_param(args)), ...);
    return params;
}

// The format values come back in. Binary: a text column's value is its bytes, a bytea
// column's value its raw bytes (no hex to decode); other types have their own binary
// encodings, so a binary query selects text and bytea columns only.
enum class ResultFormat { text, binary };

// The rows of one statement's result. Owns the PGresult.
class Rows {
  public:
    Rows();
    explicit Rows(void* pg_result);  // takes ownership of a PGresult*
    std::size_t size() const;
    bool empty() const { return size() == 0; }
    bool is_null(std::size_t row, std::size_t column) const;
    std::string_view get(std::size_t row, std::size_t column) const;
    std::int64_t get_int(std::size_t row, std::size_t column) const;
    bool get_bool(std::size_t row, std::size_t column) const;
    std::size_t affected() const;  // PQcmdTuples

  private:
    std::shared_ptr<void> result_;
};

struct Statement {
    std::string sql;
    std::vector<Param> params;
};

}  // namespace smarthost::pg
