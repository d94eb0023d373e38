#pragma once
// The domain health check's I/O (docs/domain-health.md): reads a sender domain and its
// DKIM keys from PostgreSQL, looks up what assess_domain_health() asks for, stores the
// verdict in sender_domains.health, and sets smarthost_sender_domain_health_problems.
// Runs on demand (the admin API's refresh) and periodically, replicas sharing the work.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "relay/policy/domain_health.hpp"

namespace smarthost::pg {
class Pool;
}
namespace smarthost::dns {
class Resolver;
}

namespace smarthost::policy {

struct DomainHealthReport {
    std::int64_t domain_id = 0;
    DomainHealth health;
};

// The document stored in sender_domains.health and served by the admin API.
std::string health_json(const DomainHealth& health, DkimPolicy dkim_policy);

class DomainHealthChecker {
  public:
    struct Settings {
        RelayIdentity relay;
        std::chrono::seconds interval{6 * 3600};  // re-check each domain this often
        std::size_t batch = 50;                   // domains claimed per round
        // Debian's `publicsuffix` package; empty or unreadable: the last two labels.
        std::string public_suffix_list = "/usr/share/publicsuffix/public_suffix_list.dat";
        // When "now" is (tests move it): the claims and health_checked_at use it.
        std::function<std::chrono::system_clock::time_point()> now = [] {
            return std::chrono::system_clock::now();
        };
    };

    // The pool, the resolver and the callers run on `executor` (see pg::Pool).
    DomainHealthChecker(boost::asio::any_io_executor executor, pg::Pool& pool,
                        dns::Resolver& resolver, Settings settings);
    ~DomainHealthChecker();
    DomainHealthChecker(const DomainHealthChecker&) = delete;
    DomainHealthChecker& operator=(const DomainHealthChecker&) = delete;

    // Checks one domain now and stores the result; nullopt when there is no such domain.
    boost::asio::awaitable<Result<std::optional<DomainHealthReport>>> check(std::int64_t domain_id);

    // One periodic round: claims up to `batch` domains not checked for `interval`
    // (never-checked first; SKIP LOCKED, so replicas share the work), checks them.
    boost::asio::awaitable<Result<std::vector<DomainHealthReport>>> check_due();

    // Sets smarthost_sender_domain_health_problems{code} from the stored results of
    // every domain (a fact of the database, like the queue gauges).
    boost::asio::awaitable<Status> refresh_metrics();

    // Runs check_due() and refresh_metrics() at least once a minute until stop().
    void start();
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::policy
