#include "relay/delivery/queue_listener.hpp"

#include <utility>

namespace smarthost::delivery {

QueueListener::QueueListener(boost::asio::any_io_executor executor, Settings settings,
                             std::function<void()> on_notify)
    : listener_(std::move(executor),
                pg::NotificationListener::Settings{.url = std::move(settings.database_url),
                                                   .channel = std::move(settings.channel),
                                                   .reconnect_delay = settings.reconnect_delay,
                                                   .log_name = "delivery",
                                                   .task = "queue_listen"},
                std::move(on_notify)) {}

}  // namespace smarthost::delivery
