#pragma once
// Wakes the delivery scheduler when new mail is committed: a pg::NotificationListener on
// `LISTEN smarthost_queue` (group commit sends pg_notify in the same transaction). After
// the connection was lost and opened again, the callback is called too, since
// notifications sent meanwhile were lost.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "core/pg/notification_listener.hpp"
#include "relay/queue/notify.hpp"

namespace smarthost::delivery {

class QueueListener {
  public:
    struct Settings {
        std::string database_url;
        std::string channel{queue::k_queue_channel};
        std::chrono::milliseconds reconnect_delay{1000};
    };
    // `on_notify` runs on `executor` for every notification (and after each (re)connect).
    QueueListener(boost::asio::any_io_executor executor, Settings settings,
                  std::function<void()> on_notify);

    void start() { listener_.start(); }
    void stop() { listener_.stop(); }
    // Connected and listening, for tests.
    bool listening() const { return listener_.listening(); }

  private:
    pg::NotificationListener listener_;
};

}  // namespace smarthost::delivery
