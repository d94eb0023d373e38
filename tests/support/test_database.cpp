#include "tests/support/test_database.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>

#include "core/pg/migrations.hpp"

namespace smarthost::test {

namespace {

constexpr const char* k_url_variable = "SMARTHOST_TEST_DATABASE_URL";

struct ConnectionCloser {
    void operator()(PGconn* conn) const { PQfinish(conn); }
};
using ConnectionPtr = std::unique_ptr<PGconn, ConnectionCloser>;

void ignore_notice(void*, const char*) {}

ConnectionPtr connect(const std::string& url) {
    ConnectionPtr conn(PQconnectdb(url.c_str()));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        throw std::runtime_error("cannot connect to " + url + ": " +
                                 (conn ? PQerrorMessage(conn.get()) : "out of memory"));
    }
    PQsetNoticeProcessor(conn.get(), ignore_notice, nullptr);
    return conn;
}

std::vector<TestDatabase::Row> run(PGconn* conn, std::string_view sql,
                                   const std::vector<std::optional<std::string>>& params) {
    std::vector<const char*> values;
    for (const auto& value : params)
        values.push_back(value ? value->c_str() : nullptr);
    std::unique_ptr<PGresult, void (*)(PGresult*)> result(
        PQexecParams(conn, std::string(sql).c_str(), static_cast<int>(values.size()), nullptr,
                     values.data(), nullptr, nullptr, 0),
        PQclear);
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        throw std::runtime_error(
            std::string(sql) + ": " +
            (result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn)));
    }
    std::vector<TestDatabase::Row> rows;
    const int columns = PQnfields(result.get());
    for (int row = 0; row < PQntuples(result.get()); ++row) {
        TestDatabase::Row& out = rows.emplace_back();
        for (int column = 0; column < columns; ++column) {
            if (PQgetisnull(result.get(), row, column)) {
                out.emplace_back();
            } else {
                out.emplace_back(std::string(PQgetvalue(result.get(), row, column),
                                             PQgetlength(result.get(), row, column)));
            }
        }
    }
    return rows;
}

std::string unique_name() {
    std::random_device device;
    std::uniform_int_distribution<std::uint64_t> distribution;
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string suffix;
    std::uint64_t value = distribution(device);
    for (int i = 0; i < 10; ++i, value /= 36)
        suffix += digits[value % 36];
    return "t_" + std::to_string(::getpid()) + "_" + suffix;
}

// The server URL with its database replaced: URIs get a new path, key=value strings a
// trailing dbname (the last keyword wins).
std::string with_database(const std::string& url, const std::string& name) {
    const auto scheme = url.find("://");
    if (scheme == std::string::npos) return url + " dbname=" + name;
    const auto path = url.find_first_of("/?", scheme + 3);
    if (path == std::string::npos) return url + "/" + name;
    const auto query = url.find('?', path);
    return url.substr(0, path) + "/" + name +
           (query == std::string::npos ? std::string() : url.substr(query));
}

}  // namespace

TestDatabase::TestDatabase(Schema schema) {
    const char* server = std::getenv(k_url_variable);
    if (!server || !*server) {
        throw std::runtime_error(
            std::string(k_url_variable) +
            " is not set: integration tests need a PostgreSQL role that may CREATE DATABASE, "
            "e.g. postgresql://smarthost@127.0.0.1:55432/postgres");
    }
    server_url_ = server;
    name_ = unique_name();
    url_ = with_database(server_url_, name_);
    {
        auto conn = connect(server_url_);
        run(conn.get(), "CREATE DATABASE " + name_, {});
    }
    if (schema == Schema::migrated) {
        auto migrated = pg::migrate(url_);
        if (!migrated) {
            throw std::runtime_error("migrating " + name_ + ": " + migrated.error().message);
        }
    }
}

TestDatabase::~TestDatabase() {
    try {
        auto conn = connect(server_url_);
        run(conn.get(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)", {});
    } catch (const std::exception& e) {
        std::cerr << "TestDatabase: cannot drop " << name_ << ": " << e.what() << '\n';
    }
}

std::vector<TestDatabase::Row> TestDatabase::exec_params(
    std::string_view sql, const std::vector<std::optional<std::string>>& params) {
    auto conn = connect(url_);
    return run(conn.get(), sql, params);
}

std::int64_t TestDatabase::create_account(std::string_view name) {
    auto rows = exec("INSERT INTO accounts (name) VALUES ($1) RETURNING id", name);
    return std::stoll(*rows.at(0).at(0));
}

std::int64_t TestDatabase::add_sender_domain(std::int64_t account_id, std::string_view domain,
                                             std::string_view status, bool include_subdomains,
                                             std::string_view token) {
    auto rows = exec(
        "INSERT INTO sender_domains (account_id, domain, status, include_subdomains, "
        "verification_token, verified_at) VALUES ($1, $2, $3, $4, $5, "
        "CASE WHEN $3 = 'verified' THEN now() END) RETURNING id",
        account_id, domain, status, include_subdomains, token);
    return std::stoll(*rows.at(0).at(0));
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (unsigned char byte : bytes) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

}  // namespace smarthost::test
