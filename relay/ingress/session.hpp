#pragma once
// One SMTP connection: reads bytes, lets smtp::SessionMachine decide, and performs what
// it asks (replies, TLS, authentication, the data section, the durable enqueue).

#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>

#include "relay/ingress/services.hpp"

namespace smarthost::ingress {

// Starts the session on the socket's executor; `on_end` runs when it is over.
void start_session(boost::asio::ip::tcp::socket socket, const ListenerConfig& listener,
                   IngressServices services, std::function<void()> on_end);

}  // namespace smarthost::ingress
