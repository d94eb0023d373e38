#pragma once
// Drives one ClientTransaction (relay/delivery/client_machine) over a ClientChannel: MAIL,
// the RCPTs and DATA, pipelined when the server offers it (RFC 2920), then the body in
// slices under the data-block timeout. A broken connection makes every undecided
// recipient a temporary failure; a 421 closes the channel (RFC 5321 section 3.8).

#include <boost/asio/awaitable.hpp>
#include <string_view>

namespace smarthost::delivery {

class ClientChannel;
class ClientTransaction;
struct ClientTimeouts;

// `body` (CRLF line ends) must stay alive until the transaction completes.
boost::asio::awaitable<void> run_transaction(ClientChannel& channel, ClientTransaction& transaction,
                                             const ClientTimeouts& timeouts, bool pipelining,
                                             std::string_view body);

}  // namespace smarthost::delivery
