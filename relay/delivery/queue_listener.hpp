#pragma once
// Wakes the delivery scheduler when new mail is committed: a dedicated libpq connection
// runs `LISTEN smarthost_queue` (group commit sends pg_notify in the same transaction)
// and is watched on Asio, non-blocking. The pool cannot do this: its connections are
// shared and do not hand out notifications. When the connection drops it is opened again
// after a pause, and the callback is called then too, since notifications sent meanwhile
// were lost.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

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
    ~QueueListener();
    QueueListener(const QueueListener&) = delete;
    QueueListener& operator=(const QueueListener&) = delete;

    void start();
    void stop();
    // Connected and listening, for tests.
    bool listening() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::delivery
