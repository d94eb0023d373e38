#pragma once
// One attempt at the mail of one destination domain: choose the route (an upstream relay,
// or the domain's MX hosts in order, RFC 5321 section 5.1), open a connection, send each
// message over it (RSET between them), and give every recipient its AttemptResult. DNS
// verdicts that bounce or defer the whole domain are decided here too.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <random>
#include <string>
#include <vector>

#include "relay/queue/claims.hpp"

namespace smarthost {
struct DeliveryConfig;
struct DestinationGroupConfig;
}  // namespace smarthost
namespace smarthost::dns {
class AddressPolicy;
class Resolver;
}  // namespace smarthost::dns

namespace smarthost::delivery {

class ConnectionSlots;
class DestinationShaping;
class TransportSecurity;

struct DomainRoute {
    boost::asio::any_io_executor executor;
    dns::Resolver& resolver;
    const dns::AddressPolicy& address_policy;
    const DeliveryConfig& config;
    std::string helo_name;
    std::mt19937_64& random;
    ConnectionSlots& slots;       // per-host limits; the caller holds the domain's slot
    TransportSecurity& security;  // per-domain TLS: the operator's policy, MTA-STS
    // The domain's destination group (destination_groups.hpp), or null, and the shaping
    // its receivers' push-back is reported to.
    const DestinationGroupConfig* group;
    DestinationShaping* shaping;
};

// One AttemptResult for every recipient of `messages`, pointing into them. The messages
// must all be for `domain` and outlive the results.
boost::asio::awaitable<std::vector<queue::AttemptResult>> deliver_domain(
    DomainRoute route, std::string domain, std::vector<const queue::ClaimedMessage*> messages);

}  // namespace smarthost::delivery
