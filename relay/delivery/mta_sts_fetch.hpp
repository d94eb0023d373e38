#pragma once
// The MTA-STS policy fetch (RFC 8461 3.3): GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt
// over TLS with the chain and host name verified (SNI sent), no redirects, one deadline,
// at most 64 KiB, Content-Type text/plain, then mta_sts::parse_policy. The policy host's
// addresses pass the same address policy as MX hosts (docs/security.md: a domain cannot
// make the relay fetch from a private network).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "relay/delivery/mta_sts.hpp"

namespace smarthost::dns {
class AddressPolicy;
class Resolver;
}  // namespace smarthost::dns

namespace smarthost::delivery {

struct MtaStsFetchSettings {
    std::uint16_t port = 443;  // another only for tests
    std::chrono::steady_clock::duration timeout = std::chrono::seconds(10);
    std::filesystem::path ca_file;  // empty: the system's CAs
};

class MtaStsFetcher {
  public:
    // Throws std::runtime_error when the CA file cannot be loaded (a start-up error).
    MtaStsFetcher(dns::Resolver& resolver, const dns::AddressPolicy& address_policy,
                  MtaStsFetchSettings settings);
    ~MtaStsFetcher();
    MtaStsFetcher(const MtaStsFetcher&) = delete;
    MtaStsFetcher& operator=(const MtaStsFetcher&) = delete;

    // The domain's policy, or why there is none to be had now.
    boost::asio::awaitable<Result<mta_sts::Policy>> fetch(std::string domain);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace smarthost::delivery
