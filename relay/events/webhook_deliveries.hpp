#pragma once
// The webhook deliveries in PostgreSQL, as the sender works them (docs/webhooks.md):
// claimed with leases like recipients (relay/queue/claims.hpp), so any number of senders
// in any number of replicas take disjoint sets, and a crashed sender's deliveries are
// claimed again once their lease has run out (at least once).
//
// Ordering: of an endpoint's pending deliveries for one account (order_key), only the
// earliest event (event_seq) can be claimed; the next waits until it is delivered or
// failed for good. One endpoint therefore receives one account's events one at a time,
// in order, while its other accounts and other endpoints proceed.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::events {

struct ClaimedDelivery {
    std::int64_t id = 0;
    std::int64_t endpoint_id = 0;
    std::string event_id;  // uuid, the webhook-id header
    std::string kind;
    std::string body;  // the event's payload as sent and signed
    std::string url;
    std::string secret;           // "whsec_..."
    std::int64_t attempts = 0;    // including the one this claim is for
    std::chrono::seconds age{0};  // since the event was written
};

// What an attempt came to, written by record().
struct DeliveryOutcome {
    bool delivered = false;
    std::optional<int> status;  // the receiver's HTTP status; none: no answer
    std::string error;          // why it failed; empty when delivered
    // When not delivered: the wait before the next attempt, or none to give up (failed).
    std::optional<std::chrono::seconds> retry_after;
};

struct PurgeReport {
    std::size_t deliveries = 0;
    std::size_t events = 0;
};

class WebhookDeliveries {
  public:
    explicit WebhookDeliveries(pg::Pool& pool) : pool_(pool) {}

    // Leases up to `max` due deliveries — the first pending one of each endpoint and
    // account whose next_attempt_at has come and which no live lease holds — to `owner`
    // until now + lease, attempts + 1, of enabled endpoints only.
    boost::asio::awaitable<Result<std::vector<ClaimedDelivery>>> claim(
        std::string owner, std::chrono::milliseconds lease, std::size_t max);

    // Writes the outcome and the endpoint's health, only while `owner` holds the lease;
    // false when it no longer did (nothing written).
    boost::asio::awaitable<Result<bool>> record(std::string owner, std::int64_t id,
                                                DeliveryOutcome outcome);

    // Deletes delivered deliveries older than `delivered_retention`, failed ones older
    // than `failed_retention`, then events left without deliveries and older than the
    // shorter of the two; at most `batch` rows of each per call.
    boost::asio::awaitable<Result<PurgeReport>> purge(std::chrono::seconds delivered_retention,
                                                      std::chrono::seconds failed_retention,
                                                      std::int64_t batch = 10000);

  private:
    pg::Pool& pool_;
};

}  // namespace smarthost::events
