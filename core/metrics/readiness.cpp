#include "core/metrics/readiness.hpp"

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/pg/migrations.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::metrics {
namespace {

std::atomic<bool> g_listeners_up{false};

// A real query against the table migrations write: reachable and migrated in one answer.
constexpr const char* k_schema_version =
    "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations";

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

Readiness judge_readiness(std::optional<int> schema_version, const std::string& database_error,
                          int required_version, bool listeners) {
    Readiness readiness;
    readiness.checks.push_back({"database", schema_version.has_value(),
                                schema_version ? "reachable" : "unreachable: " + database_error});
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
    return readiness;
}

boost::asio::awaitable<Readiness> check_readiness(pg::Pool& pool) {
    auto rows = co_await pool.query(k_schema_version);
    std::optional<int> version;
    std::string error;
    if (!rows && rows.error().code == "42P01") {
        version = 0;  // no schema_migrations table: reachable, never migrated
    } else if (!rows) {
        error = rows.error().message;
    } else {
        version = static_cast<int>(rows->get_int(0, 0));
    }
    co_return judge_readiness(version, error, pg::bundled_migrations().back().version,
                              listeners_up());
}

}  // namespace smarthost::metrics
