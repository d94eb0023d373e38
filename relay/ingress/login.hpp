#pragma once
// What AUTH's credentials are checked against, in order: the lockout of the client's
// network, then of this username from it (both asked at every attempt, so a lock set during
// a session applies to its next attempt; a locked pair is not verified at all), the
// password itself, a suspicious login to flag (the client is DNSBL-listed as a source of
// stolen logins, or others were guessing this username), and the account's limit of
// concurrent connections.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "relay/ingress/identity.hpp"
#include "relay/ingress/services.hpp"
#include "relay/policy/connection_limiter.hpp"
#include "relay/policy/dnsbl.hpp"
#include "relay/smtp/reply.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::ingress {

struct LoginClient {
    const ListenerConfig& listener;
    const std::string& ip;
    const std::string& network;  // what the throttles count ip as
    const policy::BlocklistResult& listing;
    const std::optional<Identity>& network_identity;  // the allow-listed network's account
};

struct Login {
    enum class Outcome {
        success,           // `identity`; `slot` holds its connection unless the network's did
        invalid,           // wrong credentials (after the failure delay)
        temporary,         // could not be verified now (454), `reply` if not the usual one
        refused_and_close  // `reply` (421) and the session closes: `close_reason`
    };
    Outcome outcome = Outcome::invalid;
    std::optional<Identity> identity;
    std::optional<smtp::Reply> reply;
    policy::ConnectionSlot slot;
    std::string close_reason;
};

boost::asio::awaitable<Login> log_in(IngressServices services, LoginClient client,
                                     smtp::AuthRequest request);

}  // namespace smarthost::ingress
