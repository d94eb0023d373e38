#pragma once
// Admission of a new connection, before any greeting, in this order:
//   1. the PROXY header, which names the real client (proxy_protocol listeners)
//   2. that client's share of max_connections_per_ip behind the proxy
//   3. the TLS handshake of an implicit-TLS listener
//   4. the shutdown: a straggler gets 421 4.3.2
//   5. the lockout of the client's network after failed logins: 421 4.7.0
//   6. the client's DNSBL listings: a reject listing is served 554 and then only QUIT
//   7. the account owning the client's allow-listed network, and that account's limit of
//      concurrent connections
// What passes is greeted with what the gate learnt (the client, its listings, its
// network's account); what does not is told why, or nothing where TLS is expected.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "relay/ingress/identity.hpp"
#include "relay/ingress/services.hpp"
#include "relay/ingress/session.hpp"
#include "relay/ingress/session_channel.hpp"
#include "relay/policy/connection_limiter.hpp"
#include "relay/policy/dnsbl.hpp"
#include "relay/smtp/reply.hpp"

namespace smarthost::ingress {

struct Admission {
    enum class Outcome {
        greet,           // serve the session
        refuse_service,  // greet with `reply` (554) and answer nothing but QUIT
        close,           // send `reply`, if any, and close
    };
    Outcome outcome = Outcome::close;
    std::optional<smtp::Reply> reply;
    std::string close_reason;  // for the session's end line, when not greeted

    std::string client_ip;       // from the PROXY header when there is one
    std::string client_network;  // what throttles count client_ip as (IPv6: its /64)
    policy::BlocklistResult client_listing;
    std::optional<Identity> network_identity;  // the allow-listed network's account
    policy::ConnectionSlot network_slot;       // its connection, counted
};

boost::asio::awaitable<Admission> admit(SessionChannel& channel, const ListenerConfig& listener,
                                        IngressServices services,
                                        const ClaimClientAddress& claim_client,
                                        std::string peer_ip);

// Counts the session towards `who`'s concurrent connections in `slot`; the 421 when the
// account has its limit open already (across replicas).
boost::asio::awaitable<std::optional<smtp::Reply>> hold_connection(IngressServices services,
                                                                   const Identity& who,
                                                                   policy::ConnectionSlot& slot);

// Records a refusal of an unidentified client in `rejections`, for the account owning its
// allow-listed network when the listener has them. In the background: the refused client
// never waits for the insert.
void record_refusal_of_client(IngressServices services, const ListenerConfig& listener,
                              std::string client_ip, std::string reason);

}  // namespace smarthost::ingress
