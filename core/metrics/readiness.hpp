#pragma once
// What /readyz reports (docs/metrics.md "Health"): the database answers a real query,
// its schema is at the version this binary needs, this process's listeners are up, and
// the database keeps what it commits (fsync on: "250 queued" means stored, contract 1).
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
    std::string name;  // "database", "migrations", "listeners", "durability"
    bool ok = false;
    std::string detail;
};

struct Readiness {
    std::vector<ReadinessCheck> checks;
    bool ready() const;
    std::string json() const;  // {"status":"ready"|"not ready","checks":[...]}
};

// What the database said about itself.
struct DatabaseFacts {
    std::optional<int> schema_version;  // nullopt: it could not be queried (error says why)
    std::string error;
    std::string fsync;  // the server's fsync setting ("on", "off"); empty when unknown
};

// The verdict from the facts.
Readiness judge_readiness(const DatabaseFacts& database, int required_version, bool listeners);

// Asks PostgreSQL for the applied schema version and its fsync setting through the pool,
// then judges.
boost::asio::awaitable<Readiness> check_readiness(pg::Pool& pool);

}  // namespace smarthost::metrics
