#pragma once
// The webhook sender (docs/webhooks.md): runs in every process of the delivery role and
// drains the outbox's deliveries (webhook_deliveries.hpp) — claims due ones with leases,
// signs each (signature.hpp) and POSTs it to its endpoint, records delivered, or a retry
// with backoff (retry_policy.hpp), or failed — with at most `concurrency` requests in
// flight. Woken by NOTIFY on k_webhook_channel when events are written, and every
// poll_interval otherwise. It shares nothing with the SMTP accept path but the pool.
//
// SSRF: receivers are configured by operators only, and their addresses must pass the
// same guard as MX hosts (dns::AddressPolicy) unless in allow_destination_networks.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace smarthost::pg {
class Pool;
}
namespace smarthost::dns {
class Resolver;
}

namespace smarthost::events {

class WebhookSender {
  public:
    struct Settings {
        std::string owner;         // the lease owner: unique per process
        std::string database_url;  // for the LISTEN connection
        WebhooksConfig webhooks;
        std::chrono::seconds purge_interval{300};
    };
    // The pool, the resolver and this run on `executor`; both must outlive the sender.
    WebhookSender(boost::asio::any_io_executor executor, pg::Pool& pool, dns::Resolver& resolver,
                  Settings settings);
    ~WebhookSender();
    WebhookSender(const WebhookSender&) = delete;
    WebhookSender& operator=(const WebhookSender&) = delete;

    void start();
    // No new claims; requests in flight end within request_timeout (an unfinished one is
    // sent again by whoever claims it after its lease).
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::events
