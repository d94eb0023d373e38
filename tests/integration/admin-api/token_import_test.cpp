// import_api_token (`smarthost token import`) against a real PostgreSQL and the admin API.

#include <libpq-fe.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "admin-api/tokens.hpp"
#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

namespace asio = boost::asio;
using Outcome = TokenImport::Outcome;

const std::string k_first_token = "sht_first-token-0123456789abcdefghijklmnop";
const std::string k_second_token = "sht_second-token-0123456789abcdefghijklmno";

// Another session (a second pod's import) holds the same row uncommitted.
class UncommittedToken {
  public:
    UncommittedToken(const std::string& url, const std::string& name, const std::string& token)
        : connection_(PQconnectdb(url.c_str())) {
        EXPECT_EQ(PQstatus(connection_), CONNECTION_OK) << PQerrorMessage(connection_);
        run("BEGIN");
        const char* params[] = {name.c_str(), token.c_str()};
        PGresult* result = PQexecParams(connection_,
                                        "INSERT INTO api_tokens (name, token_sha256) "
                                        "VALUES ($1, sha256(convert_to($2, 'UTF8'))) RETURNING id",
                                        2, nullptr, params, nullptr, nullptr, 0);
        EXPECT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQerrorMessage(connection_);
        id_ = std::stoll(PQgetvalue(result, 0, 0));
        PQclear(result);
    }
    ~UncommittedToken() { PQfinish(connection_); }
    void run(const char* sql) {
        PGresult* result = PQexec(connection_, sql);
        EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK) << PQerrorMessage(connection_);
        PQclear(result);
    }
    std::int64_t id() const { return id_; }

  private:
    PGconn* connection_;
    std::int64_t id_ = 0;
};

// Until a session of this database waits for a lock (the import, on the other's row).
bool import_waits_for_lock(smarthost::test::TestDatabase& db) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (!db.exec("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                     "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO api_tokens%'")
                 .empty())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

class TokenImportTest : public AdminApiTest {
  protected:
    // Starts the import on the server's I/O thread; the result arrives through the future.
    std::future<Result<TokenImport>> start_import(const std::string& name,
                                                  const std::string& imported) {
        auto done = std::make_shared<std::promise<Result<TokenImport>>>();
        auto future = done->get_future();
        asio::co_spawn(
            io,
            [this, done, name, imported]() -> asio::awaitable<void> {
                auto result = co_await import_api_token(*pool, name, imported);
                done->set_value(std::move(result));
            },
            asio::detached);
        return future;
    }
    TokenImport import(const std::string& name, const std::string& imported) {
        auto result = start_import(name, imported).get();
        EXPECT_TRUE(result) << result.error().message;
        return result ? *result : TokenImport{};
    }
    unsigned status_with(const std::string& bearer) {
        return call({"GET", "/api/v1/tokens", {}, "application/json", "Bearer " + bearer}).status;
    }
    // Imports k_first_token as "bootstrap" while another session holds the same row
    // uncommitted, then ends that session's transaction with `ending` (COMMIT, ROLLBACK).
    struct Race {
        Result<TokenImport> result;
        std::int64_t other_id;
    };
    Race import_racing_one_that_ends_with(const char* ending) {
        UncommittedToken other(db.url(), "bootstrap", k_first_token);
        auto importing = start_import("bootstrap", k_first_token);
        EXPECT_TRUE(import_waits_for_lock(db));
        other.run(ending);
        auto result = importing.get();
        EXPECT_TRUE(result) << result.error().message;
        return {std::move(result), other.id()};
    }
    std::string stored_id(const std::string& name) {
        return *db.exec("SELECT id FROM api_tokens WHERE name = $1", name).at(0).at(0);
    }
};

TEST_F(TokenImportTest, StoresTheTokensSha256AndTheApiAcceptsIt) {
    const auto imported = import("bootstrap", k_first_token);
    EXPECT_EQ(imported.outcome, Outcome::registered);
    EXPECT_EQ(std::to_string(imported.id), stored_id("bootstrap"));
    // The digest PostgreSQL computes, as the chart's former psql script stored it.
    const auto rows = db.exec(
        "SELECT token_sha256 = sha256(convert_to($1, 'UTF8')), revoked_at IS NULL "
        "FROM api_tokens WHERE name = 'bootstrap'",
        k_first_token);
    EXPECT_EQ(rows.at(0).at(0), "t");
    EXPECT_EQ(rows.at(0).at(1), "t");
    EXPECT_EQ(status_with(k_first_token), 200u);
}

TEST_F(TokenImportTest, RerunOfTheSameNameAndTokenChangesNothing) {
    const auto first = import("bootstrap", k_first_token);
    const auto before = db.exec("SELECT id, created_at FROM api_tokens ORDER BY id");
    const auto again = import("bootstrap", k_first_token);
    EXPECT_EQ(again.outcome, Outcome::registered_already);
    EXPECT_EQ(again.id, first.id);
    EXPECT_FALSE(again.revoked);
    EXPECT_EQ(db.exec("SELECT id, created_at FROM api_tokens ORDER BY id"), before);
}

TEST_F(TokenImportTest, AChangedTokenUnderATakenNameIsRefusedAndTheOldOneKeepsWorking) {
    const auto first = import("bootstrap", k_first_token);
    const auto changed = import("bootstrap", k_second_token);
    EXPECT_EQ(changed.outcome, Outcome::name_taken);
    EXPECT_EQ(changed.id, first.id);
    EXPECT_FALSE(changed.revoked);
    EXPECT_EQ(status_with(k_first_token), 200u);
    EXPECT_EQ(status_with(k_second_token), 401u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM api_tokens").at(0).at(0), "2");  // ops, bootstrap
}

TEST_F(TokenImportTest, ATokenRegisteredUnderAnotherNameIsRefusedNamingIt) {
    const auto first = import("bootstrap", k_first_token);
    const auto renamed = import("deploy", k_first_token);
    EXPECT_EQ(renamed.outcome, Outcome::registered_as_other);
    EXPECT_EQ(renamed.existing_name, "bootstrap");
    EXPECT_EQ(renamed.id, first.id);
    EXPECT_TRUE(db.exec("SELECT 1 FROM api_tokens WHERE name = 'deploy'").empty());
}

TEST_F(TokenImportTest, ARevokedTokenIsReportedAndStaysRevoked) {
    const auto first = import("bootstrap", k_first_token);
    ASSERT_EQ(post("/api/v1/tokens/" + std::to_string(first.id) + "/revoke").status, 200u);
    const auto again = import("bootstrap", k_first_token);
    EXPECT_EQ(again.outcome, Outcome::registered_already);
    EXPECT_TRUE(again.revoked);
    EXPECT_EQ(status_with(k_first_token), 401u);
    const auto changed = import("bootstrap", k_second_token);
    EXPECT_EQ(changed.outcome, Outcome::name_taken);
    EXPECT_TRUE(changed.revoked);
}

TEST_F(TokenImportTest, AConcurrentImportOfTheSamePairWaitsAndFindsItRegistered) {
    const auto race = import_racing_one_that_ends_with("COMMIT");
    ASSERT_TRUE(race.result);
    EXPECT_EQ(race.result->outcome, Outcome::registered_already);
    EXPECT_EQ(race.result->id, race.other_id);
    EXPECT_EQ(db.exec("SELECT count(*) FROM api_tokens WHERE name = 'bootstrap'").at(0).at(0), "1");
}

TEST_F(TokenImportTest, AConcurrentImportThatRollsBackLeavesTheNameToTheWaitingOne) {
    const auto race = import_racing_one_that_ends_with("ROLLBACK");
    ASSERT_TRUE(race.result);
    EXPECT_EQ(race.result->outcome, Outcome::registered);
    EXPECT_EQ(status_with(k_first_token), 200u);
}

}  // namespace
}  // namespace smarthost::admin::test
