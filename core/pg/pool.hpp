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
#include <memory>
#include <string>
#include <vector>

#include "core/pg/statement.hpp"
#include "core/result.hpp"

namespace smarthost::pg {

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
