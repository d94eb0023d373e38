#pragma once
// One configured SMTP listener: accepts connections, enforces the connection limits,
// and runs a session per connection.

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <memory>

#include "relay/ingress/services.hpp"

namespace smarthost {
struct SmtpLimits;
}

namespace smarthost::ingress {

class Listener {
  public:
    Listener(boost::asio::any_io_executor executor, const ListenerConfig& config,
             IngressServices services);
    ~Listener();

    // Binds and starts accepting; throws std::runtime_error naming the address on failure.
    void start();
    // Stops accepting; sessions in progress go on.
    void stop();
    std::size_t active_sessions() const;
    // SIGHUP: the connection limits apply at once, the others to sessions that start later.
    void set_limits(const SmtpLimits& limits);
    const ListenerConfig& config() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::ingress
