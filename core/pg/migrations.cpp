#include "core/pg/migrations.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/pg/sqlstate.hpp"

namespace smarthost::pg {

namespace {

// Held on the session for the whole run, so concurrent `smarthost migrate` runs (several
// replicas starting at once) apply each migration exactly once. "smarthos" in ASCII.
constexpr const char* k_migration_lock_key = "8317411231030341491";

constexpr const char* k_create_migrations_table = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
))sql";

struct ConnectionCloser {
    void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultCloser {
    void operator()(PGresult* result) const { PQclear(result); }
};
using ConnectionPtr = std::unique_ptr<PGconn, ConnectionCloser>;
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

void ignore_notice(void*, const char*) {}

std::string trimmed(const char* message) {
    std::string text = message ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

Result<ConnectionPtr> connect(const std::string& database_url) {
    ConnectionPtr conn(PQconnectdb(database_url.c_str()));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        return Error{"cannot connect to PostgreSQL: " +
                         (conn ? trimmed(PQerrorMessage(conn.get())) : std::string("no memory")),
                     "", true};
    }
    PQsetNoticeProcessor(conn.get(), ignore_notice, nullptr);
    return conn;
}

// Runs SQL (several statements allowed when there are no parameters).
Result<ResultPtr> run(PGconn* conn, const std::string& sql,
                      const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const std::string& param : params)
        values.push_back(param.c_str());
    ResultPtr result(params.empty()
                         ? PQexec(conn, sql.c_str())
                         : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                        values.data(), nullptr, nullptr, 0));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    Error error;
    if (result) {
        const char* primary = PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
        error.message = primary ? primary : trimmed(PQresultErrorMessage(result.get()));
        if (const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE)) {
            error.code = state;
        }
    }
    if (error.message.empty()) error.message = trimmed(PQerrorMessage(conn));
    error.unavailable =
        PQstatus(conn) != CONNECTION_OK || classify(error.code) == SqlStateClass::unavailable;
    return error;
}

Result<std::set<int>> applied_versions(PGconn* conn) {
    auto exists = run(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists) return exists.error();
    if (std::string_view(PQgetvalue(exists->get(), 0, 0)) != "t") return std::set<int>{};
    auto rows = run(conn, "SELECT version FROM schema_migrations");
    if (!rows) return rows.error();
    std::set<int> versions;
    for (int row = 0; row < PQntuples(rows->get()); ++row) {
        versions.insert(std::stoi(PQgetvalue(rows->get(), row, 0)));
    }
    return versions;
}

int latest(const std::set<int>& versions) {
    return versions.empty() ? 0 : *versions.rbegin();
}

Error in_migration(const Migration& migration, Error error) {
    error.message = "migration " + std::string(migration.name) + ": " + error.message;
    return error;
}

Status apply(PGconn* conn, const Migration& migration) {
    if (auto begun = run(conn, "BEGIN"); !begun) return in_migration(migration, begun.error());
    auto applied = run(conn, std::string(migration.sql));
    if (applied) {
        applied = run(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                      {std::to_string(migration.version), std::string(migration.name)});
    }
    if (applied) applied = run(conn, "COMMIT");
    if (applied) return Done{};
    run(conn, "ROLLBACK");
    return in_migration(migration, applied.error());
}

Result<MigrationReport> migrate_locked(PGconn* conn) {
    if (auto created = run(conn, k_create_migrations_table); !created) return created.error();
    auto versions = applied_versions(conn);
    if (!versions) return versions.error();

    const auto migrations = bundled_migrations();
    const int known = migrations.empty() ? 0 : migrations.back().version;
    MigrationReport report;
    report.from_version = latest(*versions);
    if (report.from_version > known) {
        return Error{"database schema version " + std::to_string(report.from_version) +
                         " is newer than this binary knows (" + std::to_string(known) +
                         "): run a newer smarthost",
                     "", false};
    }
    for (const Migration& migration : migrations) {
        if (versions->contains(migration.version)) continue;
        if (Status applied = apply(conn, migration); !applied) return applied.error();
        versions->insert(migration.version);
        ++report.applied;
    }
    report.to_version = latest(*versions);
    return report;
}

}  // namespace

Result<MigrationReport> migrate(const std::string& database_url) {
    auto conn = connect(database_url);
    if (!conn) return conn.error();
    PGconn* session = conn->get();
    if (auto locked = run(session, "SELECT pg_advisory_lock($1)", {k_migration_lock_key});
        !locked) {
        return locked.error();
    }
    auto report = migrate_locked(session);
    // Closing the session would release the lock too; unlocking keeps the log clean.
    run(session, "SELECT pg_advisory_unlock($1)", {k_migration_lock_key});
    return report;
}

Result<int> current_version(const std::string& database_url) {
    auto conn = connect(database_url);
    if (!conn) return conn.error();
    auto versions = applied_versions(conn->get());
    if (!versions) return versions.error();
    return latest(*versions);
}

}  // namespace smarthost::pg
