#pragma once
// Which TLS each MX host of a domain gets (docs/delivery.md "Per-domain TLS policy" and
// "MTA-STS"). Precedence, highest first: the operator's policy for the domain (table
// tls_policies, set through the admin API), DANE, MTA-STS (RFC 8461), then [delivery] tls
// and verify_domains. An operator policy turns the others off for its domain: it is the
// escape hatch for a receiver whose published policy is broken.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "relay/delivery/mta_sts.hpp"
#include "relay/delivery/mta_sts_fetch.hpp"
#include "relay/delivery/smtp_client.hpp"

namespace smarthost {
struct DeliveryConfig;
}
namespace smarthost::pg {
class Pool;
}

namespace smarthost::delivery {

// The operator's per-domain policies, as the admin API stores them.
std::optional<TlsPolicy> operator_tls_from_name(
    std::string_view name);  // require, verify, opportunistic

// What is known about a domain before its MX hosts are tried.
struct DomainSecurity {
    std::string domain;
    TlsPolicy configured = TlsPolicy::opportunistic;  // [delivery] tls / verify_domains
    std::optional<TlsPolicy> operator_policy;         // tls_policies; wins over all else
    std::optional<mta_sts::Policy> mta_sts;           // not looked up under an operator policy
};

struct HostSecurity {
    TlsPolicy tls = TlsPolicy::opportunistic;
    bool skip = false;  // the host is not to be used; `reason` (4.7.5) says why
    std::string reason;
    bool mta_sts_enforced = false;          // MTA-STS enforce made this host verified
    bool mta_sts_testing_mismatch = false;  // MTA-STS testing would have skipped this host
};

// Pure: the TLS policy of one MX host of the domain.
HostSecurity decide_host_security(const DomainSecurity& domain, std::string_view host);

// decide_host_security, counted in smarthost_mta_sts_enforced_total.
HostSecurity host_security(const DomainSecurity& domain, std::string_view host);

struct TransportSecuritySettings {
    bool mta_sts = true;  // [delivery] mta_sts
    MtaStsFetchSettings fetch;
    // After a failed fetch a domain's policy is not fetched again for this long (the
    // cached one, if any, is used meanwhile), so an unreachable policy host does not cost
    // every attempt the whole fetch timeout.
    std::chrono::seconds retry_fetch_after{60};
};

// From [delivery]: mta_sts, mta_sts_port, mta_sts_timeout_seconds, tls_ca_file.
TransportSecuritySettings transport_security_settings(const DeliveryConfig& config);

// Reads a domain's policies for one delivery attempt: one indexed query for the
// operator's policy and the cached MTA-STS policy together, then, unless the operator's
// policy is set, the `_mta-sts` TXT record (the resolver caches it) and a fetch when
// RFC 8461 5.1 says so.
class TransportSecurity {
  public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    TransportSecurity(
        pg::Pool& pool, dns::Resolver& resolver, const dns::AddressPolicy& address_policy,
        TransportSecuritySettings settings,
        Clock clock = [] { return std::chrono::system_clock::now(); });

    // An Error when the database could not be read: the mail waits.
    boost::asio::awaitable<Result<DomainSecurity>> for_domain(std::string domain,
                                                              TlsPolicy configured);

  private:
    boost::asio::awaitable<std::optional<mta_sts::Policy>> mta_sts_policy(
        const std::string& domain, const std::optional<mta_sts::CachedPolicy>& cached);

    pg::Pool& pool_;
    dns::Resolver& resolver_;
    TransportSecuritySettings settings_;
    Clock clock_;
    MtaStsFetcher fetcher_;
    // Domain → when its policy may be fetched again after a failure; bounded.
    std::map<std::string, std::chrono::system_clock::time_point> failed_fetches_;
};

}  // namespace smarthost::delivery
