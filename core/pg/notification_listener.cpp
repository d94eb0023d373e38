#include "core/pg/notification_listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

#include "core/pg/connection.hpp"
#include "core/spawn.hpp"

namespace smarthost::pg {

namespace asio = boost::asio;

namespace {

// pg_stat_activity tells the listener apart from the pool's connections ("smarthost").
constexpr const char* k_application_name = "smarthost-listen";

std::string one_line(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    for (auto& c : text)
        if (c == '\n' || c == '\t') c = ' ';
    return text;
}

}  // namespace

struct NotificationListener::Impl {
    Impl(asio::any_io_executor executor_in, Settings settings_in, std::function<void()> callback)
        : executor(std::move(executor_in)),
          settings(std::move(settings_in)),
          on_notify(std::move(callback)),
          reconnect_timer(executor) {}

    asio::any_io_executor executor;
    Settings settings;
    std::function<void()> on_notify;
    asio::steady_timer reconnect_timer;
    std::unique_ptr<Connection> connection;
    bool stopped = false;
    bool is_listening = false;

    // Connects and runs LISTEN; neither has a deadline: stop() ends them.
    asio::awaitable<bool> open_and_listen() {
        Status connected =
            co_await connection->connect(settings.url, k_application_name, Connection::no_deadline);
        if (!connected || stopped) co_return false;
        const std::string listen = "LISTEN " + settings.channel;
        const std::vector<Param> no_params;
        auto listened = co_await connection->execute(listen, no_params, ResultFormat::text,
                                                     Connection::no_deadline);
        co_return listened.ok();
    }

    asio::awaitable<void> run() {
        bool warned = false;
        while (!stopped) {
            connection = std::make_unique<Connection>(executor);
            if (co_await open_and_listen() && !stopped) {
                is_listening = true;
                warned = false;
                spdlog::debug("{}: listening on {}", settings.log_name, settings.channel);
                on_notify();  // whatever happened while nobody listened
                while (!stopped) {
                    auto notified = co_await connection->wait_for_notifications();
                    if (!notified || stopped) break;
                    on_notify();
                }
            }
            is_listening = false;
            if (stopped) break;
            if (!warned) {
                const char* error = connection->libpq_error();
                spdlog::warn("{}: LISTEN connection to PostgreSQL lost ({}); retrying",
                             settings.log_name, one_line(error ? error : "no connection"));
                warned = true;
            }
            connection.reset();
            reconnect_timer.expires_after(settings.reconnect_delay);
            co_await reconnect_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        connection.reset();
    }
};

NotificationListener::NotificationListener(asio::any_io_executor executor, Settings settings,
                                           std::function<void()> on_notify)
    : impl_(
          std::make_shared<Impl>(std::move(executor), std::move(settings), std::move(on_notify))) {}

NotificationListener::~NotificationListener() {
    stop();
}

void NotificationListener::start() {
    spawn_supervised(impl_->executor, impl_->settings.task, [impl = impl_] { return impl->run(); });
}

void NotificationListener::stop() {
    impl_->stopped = true;
    impl_->reconnect_timer.cancel();
    if (impl_->connection) impl_->connection->cancel();
}

bool NotificationListener::listening() const {
    return impl_->is_listening;
}

}  // namespace smarthost::pg
