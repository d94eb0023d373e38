#pragma once
// What /readyz reports (docs/metrics.md "Health"): the database answers a real query,
// its schema is at the version this binary needs, and this process's listeners are up.
// The pure verdict is separate from the query, so it is testable without a database.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

namespace smarthost::pg {
class Pool;
}

namespace smarthost::metrics {

// Set by `smarthost serve` once every listener of its roles is accepting, and cleared
// when it starts to shut down, so a load balancer stops sending new work first.
void set_listeners_up(bool up);
bool listeners_up();

struct ReadinessCheck {
    std::string name;  // "database", "migrations", "listeners"
    bool ok = false;
    std::string detail;
};

struct Readiness {
    std::vector<ReadinessCheck> checks;
    bool ready() const;
    std::string json() const;  // {"status":"ready"|"not ready","checks":[...]}
};

// The verdict from the facts: schema_version is nullopt when the database could not be
// queried (database_error says why).
Readiness judge_readiness(std::optional<int> schema_version, const std::string& database_error,
                          int required_version, bool listeners);

// Asks PostgreSQL for the applied schema version through the pool, then judges.
boost::asio::awaitable<Readiness> check_readiness(pg::Pool& pool);

}  // namespace smarthost::metrics
