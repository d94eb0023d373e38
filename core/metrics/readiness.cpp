#include "core/metrics/readiness.hpp"

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/pg/migrations.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"

namespace smarthost::metrics {
namespace {

std::atomic<bool> g_listeners_up{false};

// A real query against the table migrations write: reachable, migrated and durable in
// one answer.
constexpr const char* k_database_facts =
    "SELECT coalesce(max(version), 0)::bigint, current_setting('fsync') FROM schema_migrations";
// Before the first migration there is no schema_migrations to ask.
constexpr const char* k_fsync = "SELECT current_setting('fsync')";

// fsync = off lets PostgreSQL acknowledge commits it has not written to disk: a crash of
// the database host then loses or corrupts mail answered "250 queued" (contract 1).
ReadinessCheck durability(const DatabaseFacts& database) {
    if (!database.schema_version)
        return {"durability", false, "unknown: the database is unreachable"};
    if (database.fsync == "on") return {"durability", true, "fsync is on"};
    if (database.fsync.empty()) return {"durability", false, "unknown: fsync could not be read"};
    return {"durability", false,
            "fsync is " + database.fsync +
                ": a crash of the database host can lose or corrupt accepted mail; set fsync = "
                "on in postgresql.conf"};
}

}  // namespace

void set_listeners_up(bool up) {
    g_listeners_up = up;
}

bool listeners_up() {
    return g_listeners_up;
}

bool Readiness::ready() const {
    for (const auto& check : checks)
        if (!check.ok) return false;
    return true;
}

std::string Readiness::json() const {
    boost::json::array list;
    for (const auto& check : checks)
        list.push_back(
            boost::json::object{{"name", check.name}, {"ok", check.ok}, {"detail", check.detail}});
    boost::json::object body{{"status", ready() ? "ready" : "not ready"},
                             {"checks", std::move(list)}};
    return boost::json::serialize(body);
}

Readiness judge_readiness(const DatabaseFacts& database, int required_version, bool listeners) {
    const auto& schema_version = database.schema_version;
    Readiness readiness;
    readiness.checks.push_back({"database", schema_version.has_value(),
                                schema_version ? "reachable" : "unreachable: " + database.error});
    if (!schema_version) {
        readiness.checks.push_back({"migrations", false, "unknown: the database is unreachable"});
    } else if (*schema_version < required_version) {
        readiness.checks.push_back({"migrations", false,
                                    "schema at version " + std::to_string(*schema_version) +
                                        ", this binary needs " + std::to_string(required_version) +
                                        ": run `smarthost migrate`"});
    } else {
        readiness.checks.push_back(
            {"migrations", true, "schema at version " + std::to_string(*schema_version)});
    }
    readiness.checks.push_back(
        {"listeners", listeners, listeners ? "accepting" : "not accepting connections"});
    readiness.checks.push_back(durability(database));
    return readiness;
}

boost::asio::awaitable<Readiness> check_readiness(pg::Pool& pool) {
    DatabaseFacts database;
    auto rows = co_await pool.query(k_database_facts);
    if (!rows && pg::classify(rows.error().code) == pg::SqlStateClass::undefined_table) {
        database.schema_version = 0;  // no schema_migrations table: reachable, never migrated
        rows = co_await pool.query(k_fsync);
        if (rows) database.fsync = std::string(rows->get(0, 0));
    } else if (!rows) {
        database.error = rows.error().message;
    } else {
        database.schema_version = static_cast<int>(rows->get_int(0, 0));
        database.fsync = std::string(rows->get(0, 1));
    }
    co_return judge_readiness(database, pg::bundled_migrations().back().version, listeners_up());
}

}  // namespace smarthost::metrics
