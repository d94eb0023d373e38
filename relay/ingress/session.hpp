#pragma once
// One SMTP connection: reads bytes, lets smtp::SessionMachine decide, and performs what
// it asks (replies, TLS, authentication, the data section, the durable enqueue).

#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "relay/ingress/services.hpp"

namespace smarthost::ingress {

// On a proxy_protocol listener: counts the session against the client address its PROXY
// header names (max_connections_per_ip); false when that address is over the limit.
using ClaimClientAddress = std::function<bool(const std::string& client_ip)>;

// Starts the session on the socket's executor; `on_end` runs when it is over.
void start_session(boost::asio::ip::tcp::socket socket, const ListenerConfig& listener,
                   IngressServices services, std::function<void()> on_end,
                   ClaimClientAddress claim_client = {});

}  // namespace smarthost::ingress
