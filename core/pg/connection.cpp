#include "core/pg/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <utility>

#include "core/pg/sqlstate.hpp"

namespace smarthost::pg {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

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

// The server's notices (such as the FATAL before a terminated backend) reach the owner
// through the failure they cause, not through libpq's default print to stderr.
void ignore_notice(void*, const char*) {}

std::size_t param_bytes(const std::vector<Param>& params) {
    std::size_t bytes = 0;
    for (const Param& param : params)
        bytes += param.borrowed ? param.borrowed->size() : param.value ? param.value->size() : 0;
    return bytes;
}

}  // namespace

Connection::Connection(asio::any_io_executor executor) : socket_(executor), timer_(executor) {}

Connection::~Connection() {
    detach_socket();
    if (conn_) PQfinish(conn_);
}

bool Connection::broken() const {
    return broken_ || !conn_ || PQstatus(conn_) != CONNECTION_OK;
}

asio::awaitable<Status> Connection::connect(const std::string& url,
                                            std::string_view application_name,
                                            Clock::time_point deadline) {
    // Defaults first: a later dbname=<url> expands the URL and overrides them.
    const std::string application(application_name);
    const char* keywords[] = {"application_name",
                              "keepalives",
                              "keepalives_idle",
                              "keepalives_interval",
                              "keepalives_count",
                              "dbname",
                              nullptr};
    const char* values[] = {application.c_str(), "1", "30", "10", "3", url.c_str(), nullptr};
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

bool Connection::still_open() {
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
        if (!consume_input()) return false;
        if (PQstatus(conn_) != CONNECTION_OK || PQisBusy(conn_)) return false;
    }
    return false;
}

asio::awaitable<Result<Rows>> Connection::execute(const std::string& sql,
                                                  const std::vector<Param>& params,
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

asio::awaitable<Result<std::vector<Rows>>> Connection::transaction(
    const std::vector<Statement>& statements, Clock::time_point deadline) {
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
            sent = sent && PQsendPrepare(conn_, it->second.c_str(), statement.sql.c_str(),
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
        const bool is_statement = query >= prepares + 1 && query <= prepares + statements.size();
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
        if (!error) error = Error{"transaction returned fewer results than statements", "", false};
        co_return *error;
    }
    co_return rows;
}

asio::awaitable<Result<std::size_t>> Connection::wait_for_notifications() {
    for (;;) {
        // PQgetResult parses notifications too: some may be queued from earlier reads.
        collect_notifications();
        if (notifications_ > 0) co_return std::exchange(notifications_, 0);
        const Ready ready = co_await wait(true, false, no_deadline);
        if (ready != Ready::readable || !consume_input()) co_return connection_error("receive");
    }
}

void Connection::cancel() {
    cancelled_ = true;
    broken_ = true;
    boost::system::error_code ignored;
    if (socket_.is_open()) socket_.cancel(ignored);
    timer_.cancel();
}

const char* Connection::libpq_error() const {
    return conn_ ? PQerrorMessage(conn_) : nullptr;
}

Error Connection::connection_error(std::string_view what) {
    broken_ = true;
    std::string message = "PostgreSQL " + std::string(what) + " failed";
    if (conn_) {
        const std::string detail = trimmed(PQerrorMessage(conn_));
        if (!detail.empty()) message += ": " + detail;
    }
    return unavailable(std::move(message));
}

Error Connection::timed_out() {
    broken_ = true;
    return unavailable("PostgreSQL did not answer before the statement deadline");
}

// Sends one statement; with a prepared statement's name, only its parameters travel
// and the server skips parsing and planning.
bool Connection::send(const std::string& sql, const std::vector<Param>& params,
                      const std::string* prepared_name, ResultFormat format) {
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
        return PQsendQueryPrepared(conn_, prepared_name->c_str(), static_cast<int>(params.size()),
                                   values.data(), lengths.data(), formats.data(),
                                   result_format) == 1;
    }
    return PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                             values.data(), lengths.data(), formats.data(), result_format) == 1;
}

// Pushes everything libpq buffered to the server. While the socket is full, the server
// may be waiting for us to read (large pipelines), so input is consumed too.
asio::awaitable<Status> Connection::flush(Clock::time_point deadline) {
    for (;;) {
        const int pending = PQflush(conn_);
        if (pending == 0) co_return Done{};
        if (pending < 0) co_return connection_error("send");
        const Ready ready = co_await wait(true, true, deadline);
        if (ready == Ready::timed_out) co_return timed_out();
        if (ready == Ready::failed) co_return connection_error("send");
        if (ready == Ready::readable && !consume_input()) co_return connection_error("receive");
    }
}

asio::awaitable<Status> Connection::await_result(Clock::time_point deadline) {
    while (PQisBusy(conn_)) {
        const Ready ready = co_await wait(true, false, deadline);
        if (ready == Ready::timed_out) co_return timed_out();
        if (ready == Ready::failed || !consume_input()) co_return connection_error("receive");
    }
    co_return Done{};
}

asio::awaitable<Connection::Ready> Connection::wait(bool read, bool write,
                                                    Clock::time_point deadline) {
    if (cancelled_) co_return Ready::failed;
    timer_.expires_at(deadline);
    auto token = asio::as_tuple(asio::use_awaitable);
    using Wait = asio::posix::descriptor_base::wait_type;
    if (read && write) {
        auto which =
            co_await (socket_.async_wait(Wait::wait_read, token) ||
                      socket_.async_wait(Wait::wait_write, token) || timer_.async_wait(token));
        if (cancelled_) co_return Ready::failed;
        if (which.index() == 2) co_return Ready::timed_out;
        auto [ec] = which.index() == 0 ? std::get<0>(which) : std::get<1>(which);
        if (ec) co_return Ready::failed;
        co_return which.index() == 0 ? Ready::readable : Ready::writable;
    }
    auto which = co_await (socket_.async_wait(read ? Wait::wait_read : Wait::wait_write, token) ||
                           timer_.async_wait(token));
    if (cancelled_) co_return Ready::failed;
    if (which.index() == 1) co_return Ready::timed_out;
    auto [ec] = std::get<0>(which);
    if (ec) co_return Ready::failed;
    co_return read ? Ready::readable : Ready::writable;
}

// The one place input is read from the socket into libpq.
bool Connection::consume_input() {
    if (!PQconsumeInput(conn_)) return false;
    collect_notifications();
    return true;
}

void Connection::collect_notifications() {
    while (PGnotify* notify = PQnotifies(conn_)) {
        ++notifications_;
        PQfreemem(notify);
    }
}

bool Connection::attach_socket() {
    detach_socket();
    const int fd = PQsocket(conn_);
    if (fd < 0) return false;
    boost::system::error_code ec;
    socket_.assign(fd, ec);
    return !ec;
}

// libpq owns the descriptor: take it back from Asio without closing it.
void Connection::detach_socket() {
    if (socket_.is_open()) socket_.release();
}

}  // namespace smarthost::pg
