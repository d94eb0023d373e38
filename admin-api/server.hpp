#pragma once
// The admin API's HTTP/1.1 server (Boost.Beast): keep-alive, bounded bodies, timeouts,
// one coroutine per connection, a bound on open connections. Every route needs a Bearer
// token except /metrics, /healthz and /readyz (admin-api/health_routes.hpp says why); the
// route that matched decides, on the headers, before any body is read.
//
// Threading: the server, its pg::Pool and every handler run on ONE executor (the pool's
// rule); password hashing runs on the server's own small thread pool.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "admin-api/cidr.hpp"
#include "admin-api/containment.hpp"
#include "admin-api/dkim_keys.hpp"
#include "admin-api/domain_health.hpp"
#include "admin-api/sender_domains.hpp"
#include "core/shaping_config.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::admin {

class AdminServer {
  public:
    struct Settings {
        std::string address = "127.0.0.1";
        unsigned short port = 8025;  // 0: any free port (see port())
        std::size_t max_body_bytes = 1024 * 1024;
        // Waiting for the next request on a kept-alive connection, including its header.
        std::chrono::seconds idle_timeout{60};
        // Reading one request's body, and writing its response.
        std::chrono::seconds request_timeout{30};
        // Open connections at once; past it a new one gets a 503 and is closed unread.
        std::size_t max_connections = 128;
        std::size_t hash_threads = 2;  // argon2id workers
        // Owner-name prefix of sender-domain verification records ("<label>.<domain>").
        std::string verification_label = "_smarthost";
        VerifyDomain verify_domain;                 // for POST /api/v1/domains/{id}/verify
        RefreshDomainHealth refresh_domain_health;  // POST /api/v1/domains/{id}/health/refresh
        NetworkBreadth network_breadth;             // broader allowed networks need "force": true
        DkimKeyOptions dkim;                        // the DKIM key routes' vault and verify-now
        WorkOnQueueJob work_on_queue_job;           // POST /api/v1/queue/actions answers at once
        ShapingConfig shaping;                      // the destination groups of /destinations
        // false: only /metrics, /healthz and /readyz (the [metrics] listener).
        bool serve_api = true;
        // Set: HTTPS with the context it returns at each accept (so a reloaded
        // certificate applies to new connections). Empty: plain HTTP.
        std::function<std::shared_ptr<boost::asio::ssl::context>()> tls_context;
    };

    AdminServer(boost::asio::any_io_executor executor, pg::Pool& pool, Settings settings);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Binds and starts accepting; throws std::runtime_error when it cannot listen.
    void start();
    // Stops accepting and closes open connections; in-flight handlers finish unanswered.
    void stop();
    unsigned short port() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::admin
