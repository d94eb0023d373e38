#pragma once
// Outbound reputation (docs/policy.md, "Outbound reputation"): the delivery role looks
// up the address it sends from (`[delivery] source_address`) in every [[policy.dnsbl]]
// zone every `[policy] outbound_check_interval_seconds`, and keeps the latest answer per
// zone in outbound_listings (read by the admin API) and in the
// smarthost_outbound_address_listed gauge. A zone that does not answer leaves its last
// row as it was. The zones are the Blocklists' current ones (SIGHUP may change them; with
// none, nothing is checked).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

class Blocklists;

class OutboundReputation {
  public:
    // The pool, the blocklists' resolver and this run on `executor`.
    OutboundReputation(boost::asio::any_io_executor executor, pg::Pool& pool,
                       Blocklists& blocklists, std::string source_address,
                       std::chrono::seconds interval);
    ~OutboundReputation();
    OutboundReputation(const OutboundReputation&) = delete;
    OutboundReputation& operator=(const OutboundReputation&) = delete;

    // Looks the address up in every zone and stores the answers; the number of zones
    // whose answer was stored.
    boost::asio::awaitable<std::size_t> check_once();

    void start();  // check_once() now and then every interval, until stop()
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::policy
