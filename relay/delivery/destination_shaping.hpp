#pragma once
// Traffic shaping per destination group in the delivery role (docs/delivery.md "Traffic
// shaping per destination"): which group a domain's mail belongs to, how many connections
// the group may have in this process, how many messages it may be sent now (leases across
// replicas, destination_leases.hpp), and the push-back state every replica shares
// (destination_backoff.hpp), read from PostgreSQL at most every state_refresh. The pure
// decisions live in those headers; this is the part with the resolver and the database.
// Runs on the delivery role's one executor.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "relay/delivery/destination_backoff.hpp"
#include "relay/delivery/destination_circuits.hpp"
#include "relay/delivery/destination_groups.hpp"
#include "relay/delivery/destination_leases.hpp"
#include "relay/queue/claims.hpp"

namespace smarthost {
struct DeliveryConfig;
}
namespace smarthost::pg {
class Pool;
}
namespace smarthost::dns {
class Resolver;
}

namespace smarthost::delivery {

// Why messages were held back without an attempt: the label of
// smarthost_destination_deferred_total{group, reason}.
enum class HoldReason { rate, backoff, circuit };
const char* hold_reason_name(HoldReason reason);

// What a batch part of a group may do now: send its first `allowed` messages; the rest go
// back to the queue, due at `retry_at`, without an attempt counted.
struct Admission {
    std::size_t allowed = 0;
    SystemTime retry_at;
    HoldReason reason = HoldReason::rate;
};

// Whether to connect to an MX host now (destination_circuits.hpp); when skipped, the
// host may be tried again at `until`.
struct HostPass {
    bool skip = false;
    SystemTime until;
};

// A result for every recipient of `messages` saying it was not attempted and is due again
// at `until` (queue::AttemptResult::not_attempted_until).
std::vector<queue::AttemptResult> not_attempted(
    const std::vector<const queue::ClaimedMessage*>& messages, SystemTime until);

class DestinationShaping {
  public:
    // The pool, resolver and configuration must outlive this.
    DestinationShaping(pg::Pool& pool, dns::Resolver& resolver, const DeliveryConfig& config);

    // The group of `domain`'s mail: the one listing the domain, else the one whose suffix
    // its first MX host has (the resolver's cache then answers deliver_domain's own MX
    // lookup). Null without a group, and for mail that goes to the upstream relay.
    boost::asio::awaitable<const DestinationGroupConfig*> group_of(std::string domain);

    // The group's connection limit in this process now, its throttle applied; 0: none.
    std::size_t max_connections(const DestinationGroupConfig& group, SystemTime now) const;

    // How many of `messages` messages of `group` may go now: none while it backs off,
    // otherwise as many as its rates (throttled) allow. Counts what it holds back.
    boost::asio::awaitable<Admission> admit(const DestinationGroupConfig& group,
                                            std::size_t messages, SystemTime now);

    // A receiver of `group` pushed back with `reply`: the group backs off, for every
    // replica. Returns when its mail may go again.
    boost::asio::awaitable<SystemTime> push_back(const DestinationGroupConfig& group,
                                                 std::string reply, SystemTime now);

    // When `result` is a receiver's push-back (a reply the server sent, classified
    // rate_limited: queue::classify_failure) and there is a group, push_back(): when the
    // group's mail may go again. Nullopt otherwise.
    boost::asio::awaitable<std::optional<SystemTime>> react(const DestinationGroupConfig* group,
                                                            const queue::AttemptResult& result);

    // Before connecting to MX host `host`: skip it while its circuit is open, or while
    // another worker's probe is out; in the half-open state, claim the probe.
    boost::asio::awaitable<HostPass> before_host(std::string host, SystemTime now);
    // After trying to open a connection to `host`: `failure` is null when the host greeted
    // (its circuit closes); a connection-level failure counts towards opening it.
    boost::asio::awaitable<void> after_host(std::string host, const queue::AttemptResult* failure,
                                            SystemTime now);

    // Counts messages held back without an attempt.
    static void count_held(const DestinationGroupConfig& group, HoldReason reason,
                           std::size_t messages);
    // The same for mail that may have no group: counted under group "none".
    static void count_held(const DestinationGroupConfig* group, HoldReason reason,
                           std::size_t messages);

    const DestinationGroups& groups() const { return groups_; }

  private:
    boost::asio::awaitable<void> refresh(SystemTime now, bool force = false);
    const BackoffState& backoff_of(const std::string& group) const;

    pg::Pool& pool_;
    dns::Resolver& resolver_;
    const DeliveryConfig& config_;
    DestinationGroups groups_;
    DestinationLeases leases_;
    boost::asio::awaitable<bool> write_circuit(const std::string& host, const CircuitState& next,
                                               std::int64_t version, SystemTime now);
    boost::asio::awaitable<void> reload_circuit(const std::string& host);

    std::map<std::string, BackoffState> backoffs_;  // by group; absent: never backed off
    std::map<std::string, CircuitState> circuits_;  // by host; absent: no failures
    SystemTime refreshed_at_;
    SystemTime circuits_purged_at_;
};

}  // namespace smarthost::delivery
