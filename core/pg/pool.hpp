#pragma once
// Asynchronous PostgreSQL access: non-blocking libpq connections driven by Asio
// (PQsocket on a stream_descriptor), a fixed-size pool, parameters always bound.
//
// Threading: a Pool, its connections and every coroutine that calls it run on ONE
// executor (one io_context thread, or one strand). Nothing here locks.
// Failures to reach the server (refused, lost, connect or statement deadline passed)
// come back as Error{unavailable=true}; the broken connection is discarded and the next
// request opens a new one, so the pool recovers by itself when PostgreSQL is back.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

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

class Pool {
  public:
    struct Settings {
        std::string url;  // libpq connection string or URI
        std::size_t size = 8;
        int connect_timeout_seconds = 5;
        // Deadline for one request once it holds a connection (sending, server work,
        // reading), and separately for waiting for a free connection. Passing it
        // discards the connection and answers unavailable.
        int statement_timeout_seconds = 10;
    };
    Pool(boost::asio::any_io_executor executor, Settings settings);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // One statement, with parameters bound ($1, $2, ...). Text parameters must not
    // contain NUL bytes (PostgreSQL text cannot); use bytes() for binary data.
    boost::asio::awaitable<Result<Rows>> execute(std::string sql, std::vector<Param> params,
                                                 ResultFormat format = ResultFormat::text);

    template <class... Args>
    boost::asio::awaitable<Result<Rows>> query(std::string sql, const Args&... args) {
        return execute(std::move(sql), std::vector<Param>{to_param(args)...});
    }

    // Several statements in one transaction, sent in one round trip (libpq pipeline
    // mode): BEGIN, the statements, COMMIT. Any failure rolls the whole batch back.
    // On success, one Rows per statement, in order (BEGIN and COMMIT not included).
    boost::asio::awaitable<Result<std::vector<Rows>>> transaction(
        std::vector<Statement> statements);

    std::size_t size() const;
    std::size_t idle() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::pg
