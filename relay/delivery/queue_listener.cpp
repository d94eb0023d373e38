#include "relay/delivery/queue_listener.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace smarthost::delivery {

namespace asio = boost::asio;
using Wait = asio::posix::descriptor_base::wait_type;

namespace {

// The server's notices (such as the FATAL before a terminated backend) are reported
// through the lost-connection warning instead of libpq's default print to stderr.
void ignore_notice(void*, const char*) {}

std::string one_line(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    for (auto& c : text)
        if (c == '\n' || c == '\t') c = ' ';
    return text;
}

}  // namespace

struct QueueListener::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor executor, Settings settings_in, std::function<void()> callback)
        : settings(std::move(settings_in)),
          on_notify(std::move(callback)),
          socket(executor),
          timer(executor) {}
    ~Impl() { close(); }

    Settings settings;
    std::function<void()> on_notify;
    asio::posix::stream_descriptor socket;
    asio::steady_timer timer;
    PGconn* conn = nullptr;
    bool stopped = false;
    bool is_listening = false;

    void close() {
        is_listening = false;
        // libpq owns the descriptor: take it back from Asio without closing it.
        if (socket.is_open()) socket.release();
        if (conn) PQfinish(conn);
        conn = nullptr;
    }

    bool attach() {
        if (socket.is_open()) socket.release();
        const int fd = PQsocket(conn);
        if (fd < 0) return false;
        boost::system::error_code ec;
        socket.assign(fd, ec);
        return !ec;
    }

    // Waits until the socket is ready for `wait` or the stop; false when it is not usable.
    asio::awaitable<bool> ready(Wait wait) {
        auto token = asio::as_tuple(asio::use_awaitable);
        auto [ec] = co_await socket.async_wait(wait, token);
        co_return !ec && !stopped;
    }

    asio::awaitable<bool> connect() {
        const char* keywords[] = {"application_name", "dbname", nullptr};
        const char* values[] = {"smarthost-listen", settings.database_url.c_str(), nullptr};
        conn = PQconnectStartParams(keywords, values, 1);
        if (!conn || PQstatus(conn) == CONNECTION_BAD) co_return false;
        PQsetNoticeProcessor(conn, ignore_notice, nullptr);
        PostgresPollingStatusType state = PGRES_POLLING_WRITING;
        while (state != PGRES_POLLING_OK) {
            if (state == PGRES_POLLING_FAILED || !attach()) co_return false;
            auto ok =
                co_await ready(state == PGRES_POLLING_READING ? Wait::wait_read : Wait::wait_write);
            if (!ok) co_return false;
            state = PQconnectPoll(conn);
        }
        if (!attach() || PQsetnonblocking(conn, 1) != 0) co_return false;
        const std::string sql = "LISTEN " + settings.channel;
        if (!PQsendQuery(conn, sql.c_str())) co_return false;
        while (PQflush(conn) == 1) {
            auto ok = co_await ready(Wait::wait_write);
            if (!ok) co_return false;
        }
        bool succeeded = false;
        for (;;) {
            while (PQisBusy(conn)) {
                auto ok = co_await ready(Wait::wait_read);
                if (!ok || !PQconsumeInput(conn)) co_return false;
            }
            PGresult* result = PQgetResult(conn);
            if (!result) break;
            succeeded = PQresultStatus(result) == PGRES_COMMAND_OK;
            PQclear(result);
        }
        co_return succeeded;
    }

    // Reads notifications until the connection breaks or the listener stops.
    asio::awaitable<void> listen() {
        for (;;) {
            auto ok = co_await ready(Wait::wait_read);
            if (!ok || !PQconsumeInput(conn)) co_return;
            bool notified = false;
            while (PGnotify* notify = PQnotifies(conn)) {
                notified = true;
                PQfreemem(notify);
            }
            if (notified) on_notify();
        }
    }

    asio::awaitable<void> run() {
        auto self = shared_from_this();
        bool warned = false;
        while (!stopped) {
            auto connected = co_await connect();
            if (connected && !stopped) {
                is_listening = true;
                warned = false;
                spdlog::debug("delivery: listening on {}", settings.channel);
                on_notify();  // whatever was committed while we were not listening
                co_await listen();
            }
            if (stopped) break;
            if (!warned) {
                spdlog::warn("delivery: LISTEN connection to PostgreSQL lost ({}); retrying",
                             one_line(conn ? PQerrorMessage(conn) : "no connection"));
                warned = true;
            }
            close();
            timer.expires_after(settings.reconnect_delay);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        close();
    }
};

QueueListener::QueueListener(asio::any_io_executor executor, Settings settings,
                             std::function<void()> on_notify)
    : impl_(std::make_shared<Impl>(executor, std::move(settings), std::move(on_notify))) {}

QueueListener::~QueueListener() {
    stop();
}

void QueueListener::start() {
    asio::co_spawn(impl_->socket.get_executor(), impl_->run(), asio::detached);
}

void QueueListener::stop() {
    impl_->stopped = true;
    impl_->timer.cancel();
    if (impl_->socket.is_open()) impl_->socket.cancel();
}

bool QueueListener::listening() const {
    return impl_->is_listening;
}

}  // namespace smarthost::delivery
