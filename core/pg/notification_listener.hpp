#pragma once
// A dedicated connection that runs `LISTEN <channel>` and calls back when a NOTIFY on the
// channel arrives (PostgreSQL NOTIFY is delivered only to sessions that listen, so a Pool,
// whose connections are shared, cannot hand them out). When the connection is lost it is
// opened again `reconnect_delay` later, and the callback runs then too: notifications
// sent while nobody listened are lost, so the owner must look for itself.
//
// Threading: like Pool, the listener and its callback run on the one executor given.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace smarthost::pg {

class NotificationListener {
  public:
    struct Settings {
        std::string url;  // libpq connection string or URI
        // An SQL identifier from the configuration, never from a client.
        std::string channel;
        std::chrono::milliseconds reconnect_delay{1000};
        // Starts the listener's log lines ("<log_name>: listening on <channel>").
        std::string log_name = "pg";
        // Names the loop in smarthost_task_failures_total{task} should it throw: a literal.
        const char* task = "pg_listen";
    };
    // `on_notify` runs once for the notifications read together, and after each (re)connect.
    NotificationListener(boost::asio::any_io_executor executor, Settings settings,
                         std::function<void()> on_notify);
    ~NotificationListener();  // stops
    NotificationListener(const NotificationListener&) = delete;
    NotificationListener& operator=(const NotificationListener&) = delete;

    void start();
    void stop();
    // Connected and listening, for tests.
    bool listening() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::pg
