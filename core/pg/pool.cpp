#include "core/pg/pool.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <utility>

#include "core/metrics/metrics.hpp"
#include "core/pg/connection.hpp"

namespace smarthost::pg {

namespace asio = boost::asio;
using Clock = Connection::Clock;

namespace {

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
        co_return Error{"timed out waiting for a free PostgreSQL connection", "", true};
    }

    // The caller already counted the new connection in `open`.
    asio::awaitable<Result<std::unique_ptr<Connection>>> open_connection() {
        auto connection = std::make_unique<Connection>(executor);
        const auto deadline =
            Clock::now() + std::chrono::seconds(std::max(1, settings.connect_timeout_seconds));
        Status connected = co_await connection->connect(settings.url, "smarthost", deadline);
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
