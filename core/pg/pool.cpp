#include "core/pg/pool.hpp"

#include "core/metrics/metrics.hpp"
#include "core/pg/sqlstate.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>
#include <deque>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace smarthost::pg {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

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

std::string trimmed(const char* message) {
    std::string text = message ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

Error error_from_result(const PGresult* result) {
    Error error;
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    error.message = primary ? primary : trimmed(PQresultErrorMessage(result));
    if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
        error.message += " (";
        error.message += detail;
        error.message += ")";
    }
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) error.code = state;
    error.unavailable = classify(error.code) == SqlStateClass::unavailable;
    return error;
}

Error unavailable(std::string message) {
    return Error{std::move(message), "", true};
}

void ignore_notice(void*, const char*) {}

enum class Ready { readable, writable, timed_out, failed };

// One libpq connection, its socket watched by Asio. Any I/O failure or missed deadline
// marks it broken; the pool then discards it.
class Connection {
  public:
    explicit Connection(asio::any_io_executor executor) : socket_(executor), timer_(executor) {}
    ~Connection() {
        detach_socket();
        if (conn_) PQfinish(conn_);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool broken() const { return broken_ || !conn_ || PQstatus(conn_) != CONNECTION_OK; }
    void mark_broken() { broken_ = true; }
    // Whether the pool may keep the connection: libpq never shrinks its output buffer, so
    // one that sent a large statement (a message body) would hold that much memory for as
    // long as it lives; it is closed instead, and the memory returned (docs/security.md).
    // Its input buffer, grown by large rows read, is kept: reconnecting after every body
    // fetched halved the delivery rate of large messages (bench/RESULTS.md "Body memory").
    bool reusable() const { return !broken() && largest_sent_ <= k_largest_kept_send_bytes; }

    asio::awaitable<Status> connect(const std::string& url, Clock::time_point deadline) {
        // Defaults first: a later dbname=<url> expands the URL and overrides them.
        const char* keywords[] = {"application_name",
                                  "keepalives",
                                  "keepalives_idle",
                                  "keepalives_interval",
                                  "keepalives_count",
                                  "dbname",
                                  nullptr};
        const char* values[] = {"smarthost", "1", "30", "10", "3", url.c_str(), nullptr};
        conn_ = PQconnectStartParams(keywords, values, 1);
        if (!conn_) co_return unavailable("cannot allocate a PostgreSQL connection");
        if (PQstatus(conn_) == CONNECTION_BAD) co_return connection_error("connect");
        PQsetNoticeProcessor(conn_, ignore_notice, nullptr);

        // PQconnectPoll drives the handshake; libpq may close and reopen the socket while
        // trying addresses, so the descriptor is registered anew before every wait.
        PostgresPollingStatusType state = PGRES_POLLING_WRITING;
        while (state != PGRES_POLLING_OK) {
            if (state == PGRES_POLLING_FAILED) co_return connection_error("connect");
            if (!attach_socket()) co_return connection_error("connect");
            const bool reading = state == PGRES_POLLING_READING;
            Ready ready = co_await wait(reading, !reading, deadline);
            if (ready == Ready::timed_out) {
                broken_ = true;
                co_return unavailable("timed out connecting to PostgreSQL");
            }
            if (ready == Ready::failed) co_return connection_error("connect");
            state = PQconnectPoll(conn_);
        }
        if (!attach_socket() || PQsetnonblocking(conn_, 1) != 0) {
            co_return connection_error("connect");
        }
        co_return Done{};
    }

    // True when an idle connection can take a request: not closed by the server while it
    // sat in the pool (restart, pg_terminate_backend, idle timeout).
    bool still_open() {
        if (broken()) return false;
        // A closing server sends its FATAL message and then FIN: consume what arrived
        // and look again, until the socket is quiet or shows the peer has gone.
        for (int round = 0; round < 4; ++round) {
            pollfd fd{PQsocket(conn_), POLLIN | POLLRDHUP, 0};
            const int ready = ::poll(&fd, 1, 0);
            if (ready < 0 || (fd.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP))) {
                return false;
            }
            if (ready == 0) return true;
            if (!PQconsumeInput(conn_)) return false;
            while (PGnotify* notify = PQnotifies(conn_))
                PQfreemem(notify);
            if (PQstatus(conn_) != CONNECTION_OK || PQisBusy(conn_)) return false;
        }
        return false;
    }

    asio::awaitable<Result<Rows>> execute(const std::string& sql, const std::vector<Param>& params,
                                          ResultFormat format, Clock::time_point deadline) {
        if (!send(sql, params, nullptr, format)) co_return connection_error("send");
        if (Status flushed = co_await flush(deadline); !flushed) co_return flushed.error();
        std::optional<Error> error;
        Rows rows;
        for (;;) {
            if (Status ready = co_await await_result(deadline); !ready) co_return ready.error();
            PGresult* result = PQgetResult(conn_);
            if (!result) break;
            Rows owned(result);
            const ExecStatusType status = PQresultStatus(result);
            if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
                rows = std::move(owned);
            } else if (!error) {
                error = status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR
                            ? error_from_result(result)
                            : Error{"unsupported result status", "", false};
            }
        }
        if (broken()) co_return connection_error("query");
        if (error) co_return *error;
        co_return rows;
    }

    asio::awaitable<Result<std::vector<Rows>>> transaction(const std::vector<Statement>& statements,
                                                           Clock::time_point deadline) {
        static const std::vector<Param> no_params;
        if (PQenterPipelineMode(conn_) != 1) co_return connection_error("pipeline");
        // Batches repeat the same few statements (group commit: one per message), so each
        // is prepared once per connection, in the same round trip as its first use.
        bool sent = true;
        std::vector<const std::string*> names;
        names.reserve(statements.size());
        std::size_t prepares = 0;
        for (const Statement& statement : statements) {
            auto [it, fresh] = prepared_.try_emplace(statement.sql);
            if (fresh) {
                it->second = "smarthost_" + std::to_string(++prepared_count_);
                sent =
                    sent && PQsendPrepare(conn_, it->second.c_str(), statement.sql.c_str(),
                                          static_cast<int>(statement.params.size()), nullptr) == 1;
                ++prepares;
            }
            names.push_back(&it->second);
        }
        sent = sent && send("BEGIN", no_params);
        // libpq builds each statement whole in its output buffer; pushing the buffer out
        // once it holds a few hundred KiB keeps it near one statement's size, not a batch's.
        std::size_t unflushed = 0;
        for (std::size_t i = 0; i < statements.size() && sent; ++i) {
            sent = send(statements[i].sql, statements[i].params, names[i]);
            unflushed += param_bytes(statements[i].params);
            if (sent && unflushed >= k_flush_after_bytes) {
                if (Status flushed = co_await flush(deadline); !flushed) co_return flushed.error();
                unflushed = 0;
            }
        }
        sent = sent && send("COMMIT", no_params) && PQpipelineSync(conn_) == 1;
        if (!sent) co_return connection_error("send");
        if (Status flushed = co_await flush(deadline); !flushed) co_return flushed.error();

        // Results arrive per query (BEGIN, statements, COMMIT), each closed by a null
        // result, then the sync point. After an error the rest come back as
        // PGRES_PIPELINE_ABORTED.
        std::vector<Rows> rows;
        rows.reserve(statements.size());
        std::optional<Error> error;
        std::size_t query = 0;
        for (;;) {
            if (Status ready = co_await await_result(deadline); !ready) co_return ready.error();
            PGresult* result = PQgetResult(conn_);
            if (!result) {
                if (broken()) co_return connection_error("query");
                // The prepares, BEGIN, the statements and COMMIT each end with one null result.
                if (++query > prepares + statements.size() + 2) {
                    co_return connection_error("pipeline");
                }
                continue;
            }
            Rows owned(result);
            const ExecStatusType status = PQresultStatus(result);
            if (status == PGRES_PIPELINE_SYNC) break;
            const bool is_statement =
                query >= prepares + 1 && query <= prepares + statements.size();
            if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
                if (is_statement) rows.push_back(std::move(owned));
            } else if (status == PGRES_PIPELINE_ABORTED) {
                continue;
            } else if (!error) {
                error = status == PGRES_FATAL_ERROR ? error_from_result(result)
                                                    : Error{"unsupported result status", "", false};
            }
        }
        if (PQexitPipelineMode(conn_) != 1) co_return connection_error("pipeline");
        if (broken()) co_return connection_error("query");
        if (error || rows.size() != statements.size()) {
            // Which prepares took effect is unknown after an error: forget them all; a
            // fresh name is used next time, so nothing can clash.
            if (prepares > 0) prepared_.clear();
            // An error inside BEGIN leaves the session in an aborted transaction block:
            // Sync does not end explicit transactions.
            if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
                auto rolled_back =
                    co_await execute("ROLLBACK", no_params, ResultFormat::text, deadline);
                if (!rolled_back) broken_ = true;
            }
            if (!error)
                error = Error{"transaction returned fewer results than statements", "", false};
            co_return *error;
        }
        co_return rows;
    }

  private:
    Error connection_error(std::string_view what) {
        broken_ = true;
        std::string message = "PostgreSQL " + std::string(what) + " failed";
        if (conn_) {
            const std::string detail = trimmed(PQerrorMessage(conn_));
            if (!detail.empty()) message += ": " + detail;
        }
        return unavailable(std::move(message));
    }

    static std::size_t param_bytes(const std::vector<Param>& params) {
        std::size_t bytes = 0;
        for (const Param& param : params)
            bytes += param.borrowed ? param.borrowed->size()
                     : param.value  ? param.value->size()
                                    : 0;
        return bytes;
    }

    // Sends one statement; with a prepared statement's name, only its parameters travel
    // and the server skips parsing and planning.
    bool send(const std::string& sql, const std::vector<Param>& params,
              const std::string* prepared_name = nullptr,
              ResultFormat format = ResultFormat::text) {
        const int result_format = format == ResultFormat::binary ? 1 : 0;
        std::vector<const char*> values;
        std::vector<int> lengths;
        std::vector<int> formats;
        values.reserve(params.size());
        lengths.reserve(params.size());
        formats.reserve(params.size());
        largest_sent_ = std::max(largest_sent_, param_bytes(params));
        for (const Param& param : params) {
            if (param.borrowed) {
                values.push_back(param.borrowed->data());
                lengths.push_back(static_cast<int>(param.borrowed->size()));
            } else {
                values.push_back(param.value ? param.value->c_str() : nullptr);
                lengths.push_back(param.value ? static_cast<int>(param.value->size()) : 0);
            }
            formats.push_back(param.binary ? 1 : 0);
        }
        if (prepared_name) {
            return PQsendQueryPrepared(conn_, prepared_name->c_str(),
                                       static_cast<int>(params.size()), values.data(),
                                       lengths.data(), formats.data(), result_format) == 1;
        }
        return PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                 values.data(), lengths.data(), formats.data(), result_format) == 1;
    }

    // Pushes everything libpq buffered to the server. While the socket is full, the
    // server may be waiting for us to read (large pipelines), so input is consumed too.
    asio::awaitable<Status> flush(Clock::time_point deadline) {
        for (;;) {
            const int pending = PQflush(conn_);
            if (pending == 0) co_return Done{};
            if (pending < 0) co_return connection_error("send");
            const Ready ready = co_await wait(true, true, deadline);
            if (ready == Ready::timed_out) co_return timed_out();
            if (ready == Ready::failed) co_return connection_error("send");
            if (ready == Ready::readable && !PQconsumeInput(conn_)) {
                co_return connection_error("receive");
            }
        }
    }

    asio::awaitable<Status> await_result(Clock::time_point deadline) {
        while (PQisBusy(conn_)) {
            const Ready ready = co_await wait(true, false, deadline);
            if (ready == Ready::timed_out) co_return timed_out();
            if (ready == Ready::failed || !PQconsumeInput(conn_)) {
                co_return connection_error("receive");
            }
        }
        co_return Done{};
    }

    Error timed_out() {
        broken_ = true;
        return unavailable("PostgreSQL did not answer before the statement deadline");
    }

    asio::awaitable<Ready> wait(bool read, bool write, Clock::time_point deadline) {
        timer_.expires_at(deadline);
        auto token = asio::as_tuple(asio::use_awaitable);
        using Wait = asio::posix::descriptor_base::wait_type;
        if (read && write) {
            auto which =
                co_await (socket_.async_wait(Wait::wait_read, token) ||
                          socket_.async_wait(Wait::wait_write, token) || timer_.async_wait(token));
            if (which.index() == 2) co_return Ready::timed_out;
            auto [ec] = which.index() == 0 ? std::get<0>(which) : std::get<1>(which);
            if (ec) co_return Ready::failed;
            co_return which.index() == 0 ? Ready::readable : Ready::writable;
        }
        auto which =
            co_await (socket_.async_wait(read ? Wait::wait_read : Wait::wait_write, token) ||
                      timer_.async_wait(token));
        if (which.index() == 1) co_return Ready::timed_out;
        auto [ec] = std::get<0>(which);
        if (ec) co_return Ready::failed;
        co_return read ? Ready::readable : Ready::writable;
    }

    bool attach_socket() {
        detach_socket();
        const int fd = PQsocket(conn_);
        if (fd < 0) return false;
        boost::system::error_code ec;
        socket_.assign(fd, ec);
        return !ec;
    }

    // libpq owns the descriptor: take it back from Asio without closing it.
    void detach_socket() {
        if (socket_.is_open()) socket_.release();
    }

    PGconn* conn_ = nullptr;
    std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
    std::uint64_t prepared_count_ = 0;
    asio::posix::stream_descriptor socket_;
    asio::steady_timer timer_;
    bool broken_ = false;
    std::size_t largest_sent_ = 0;  // the parameters of the largest statement sent

    static constexpr std::size_t k_flush_after_bytes = 256 * 1024;
    static constexpr std::size_t k_largest_kept_send_bytes = 1024 * 1024;
};

// A request waiting for a connection. It is woken by cancelling its timer once
// `outcome` says what it got.
struct Waiter {
    enum class Outcome { waiting, connection, slot, failed };
    explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    Outcome outcome = Outcome::waiting;
    std::unique_ptr<Connection> connection;
    Error error;
};

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

struct Pool::Impl {
    Impl(asio::any_io_executor executor, Settings settings)
        : executor(std::move(executor)), settings(std::move(settings)) {}

    asio::any_io_executor executor;
    Settings settings;
    std::vector<std::unique_ptr<Connection>> idle;
    std::size_t open = 0;  // connections in use, idle, or being opened
    std::deque<std::shared_ptr<Waiter>> waiters;

    // This pool's share of the process-wide pool gauges: a process may have several
    // pools, so each adds the change since it last published.
    struct Published {
        double in_use = 0;
        double idle = 0;
        double waiters = 0;
    } published;
    bool withdrawn = false;  // the Pool is gone: its share stays zero

    void publish_metrics(bool withdraw = false) {
        if (withdrawn) return;
        withdrawn = withdraw;
        const Published now = withdraw ? Published{}
                                       : Published{static_cast<double>(open - idle.size()),
                                                   static_cast<double>(idle.size()),
                                                   static_cast<double>(waiters.size())};
        auto& m = metrics::global();
        m.db_pool_connections.Add({{"state", "in_use"}}).Increment(now.in_use - published.in_use);
        m.db_pool_connections.Add({{"state", "idle"}}).Increment(now.idle - published.idle);
        m.db_pool_waiters.Increment(now.waiters - published.waiters);
        published = now;
    }

    std::chrono::seconds statement_timeout() const {
        return std::chrono::seconds(std::max(1, settings.statement_timeout_seconds));
    }

    asio::awaitable<Result<std::unique_ptr<Connection>>> acquire() {
        while (!idle.empty()) {
            std::unique_ptr<Connection> connection = std::move(idle.back());
            idle.pop_back();
            if (connection->still_open()) co_return connection;
            --open;
        }
        if (open < settings.size) {
            ++open;
            co_return co_await open_connection();
        }
        auto waiter = std::make_shared<Waiter>(executor);
        waiter->timer.expires_after(statement_timeout());
        waiters.push_back(waiter);
        publish_metrics();
        co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        switch (waiter->outcome) {
            case Waiter::Outcome::connection:
                co_return std::move(waiter->connection);
            case Waiter::Outcome::slot:
                co_return co_await open_connection();
            case Waiter::Outcome::failed:
                co_return waiter->error;
            case Waiter::Outcome::waiting:
                break;
        }
        std::erase(waiters, waiter);
        co_return unavailable("timed out waiting for a free PostgreSQL connection");
    }

    // The caller already counted the new connection in `open`.
    asio::awaitable<Result<std::unique_ptr<Connection>>> open_connection() {
        auto connection = std::make_unique<Connection>(executor);
        const auto deadline =
            Clock::now() + std::chrono::seconds(std::max(1, settings.connect_timeout_seconds));
        Status connected = co_await connection->connect(settings.url, deadline);
        if (connected) co_return connection;
        --open;
        // The server is unreachable: requests queued behind this one would only wait
        // for the same failure, one connect timeout after another.
        fail_waiters(connected.error());
        co_return connected.error();
    }

    void fail_waiters(const Error& error) {
        for (auto& waiter : waiters) {
            waiter->outcome = Waiter::Outcome::failed;
            waiter->error = error;
            waiter->timer.cancel();
        }
        waiters.clear();
    }

    void release(std::unique_ptr<Connection> connection) {
        const bool usable = connection->reusable();
        if (!usable) {
            connection.reset();
            --open;
        }
        if (waiters.empty()) {
            if (usable) idle.push_back(std::move(connection));
            return;
        }
        auto waiter = std::move(waiters.front());
        waiters.pop_front();
        if (usable) {
            waiter->outcome = Waiter::Outcome::connection;
            waiter->connection = std::move(connection);
        } else {
            waiter->outcome = Waiter::Outcome::slot;
            ++open;
        }
        waiter->timer.cancel();
    }
};

namespace {

// Returns the connection to the pool however the request ends; one that did not finish
// its request normally (an exception, a destroyed coroutine) is in an unknown state.
template <class Impl>
class Lease {
  public:
    Lease(std::shared_ptr<Impl> pool, std::unique_ptr<Connection> connection)
        : pool_(std::move(pool)), connection_(std::move(connection)) {}
    ~Lease() {
        if (!connection_) return;
        if (!finished_) connection_->mark_broken();
        pool_->release(std::move(connection_));
        pool_->publish_metrics();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *connection_; }
    void finish() { finished_ = true; }

  private:
    std::shared_ptr<Impl> pool_;
    std::unique_ptr<Connection> connection_;
    bool finished_ = false;
};

}  // namespace

Pool::Pool(asio::any_io_executor executor, Settings settings)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(settings))) {
    if (impl_->settings.size == 0) impl_->settings.size = 1;
}

Pool::~Pool() {
    impl_->idle.clear();
    impl_->publish_metrics(true);
}

asio::awaitable<Result<Rows>> Pool::execute(std::string sql, std::vector<Param> params,
                                            ResultFormat format) {
    std::shared_ptr<Impl> impl = impl_;
    auto acquired = co_await impl->acquire();
    impl->publish_metrics();
    if (!acquired) co_return acquired.error();
    Lease<Impl> lease(impl, std::move(*acquired));
    auto result =
        co_await (*lease).execute(sql, params, format, Clock::now() + impl->statement_timeout());
    lease.finish();
    co_return result;
}

asio::awaitable<Result<std::vector<Rows>>> Pool::transaction(std::vector<Statement> statements) {
    std::shared_ptr<Impl> impl = impl_;
    auto acquired = co_await impl->acquire();
    impl->publish_metrics();
    if (!acquired) co_return acquired.error();
    Lease<Impl> lease(impl, std::move(*acquired));
    auto result =
        co_await (*lease).transaction(statements, Clock::now() + impl->statement_timeout());
    lease.finish();
    co_return result;
}

std::size_t Pool::size() const {
    return impl_->settings.size;
}

std::size_t Pool::idle() const {
    return impl_->idle.size();
}

}  // namespace smarthost::pg
