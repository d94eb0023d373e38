// Bootstrap commands for operators: accounts, credentials, networks and admin API tokens
// from the shell.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <iostream>

#include "admin-api/tokens.hpp"
#include "app/commands.hpp"
#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"

namespace smarthost {
namespace {

namespace asio = boost::asio;

constexpr const char* k_create_account =
    "INSERT INTO accounts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";
constexpr const char* k_account_id = "SELECT id FROM accounts WHERE name = $1";
// A username never moves silently to another account.
constexpr const char* k_upsert_credential = R"sql(
INSERT INTO credentials (account_id, username, secret_hash) VALUES ($1, $2, $3)
ON CONFLICT (username) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, enabled = true
 WHERE credentials.account_id = EXCLUDED.account_id
RETURNING id)sql";
constexpr const char* k_add_network =
    "INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2::cidr)";

// Runs one database coroutine to completion on a private I/O context.
template <class Body>
int run_with_pool(const Config& config, Body body) {
    asio::io_context io(1);
    pg::Pool pool(io.get_executor(), {config.database_url, 1, 5});
    auto result = asio::co_spawn(io, body(pool), asio::use_future);
    io.run();
    return result.get();
}

asio::awaitable<std::optional<std::int64_t>> account_id(pg::Pool& pool, const std::string& name) {
    auto rows = co_await pool.query(k_account_id, name);
    if (!rows) throw std::runtime_error(rows.error().message);
    if (rows->empty()) co_return std::nullopt;
    co_return rows->get_int(0, 0);
}

}  // namespace

int set_credential(const Config& config, const CredentialRequest& request) {
    const std::string password =
        request.password.empty() ? crypto::random_password() : request.password;
    const std::string hash = crypto::hash_password(password);
    return run_with_pool(config, [&](pg::Pool& pool) -> asio::awaitable<int> {
        if (request.create_account) {
            auto created = co_await pool.query(k_create_account, request.account);
            if (!created) throw std::runtime_error(created.error().message);
        }
        auto id = co_await account_id(pool, request.account);
        if (!id) {
            std::cerr << "smarthost: account \"" << request.account << "\" does not exist\n";
            co_return 1;
        }
        auto rows = co_await pool.query(k_upsert_credential, *id, request.username, hash);
        if (!rows) throw std::runtime_error(rows.error().message);
        if (rows->empty()) {
            std::cerr << "smarthost: username \"" << request.username
                      << "\" belongs to another account\n";
            co_return 1;
        }
        std::cout << password << '\n';
        co_return 0;
    });
}

int add_network(const Config& config, const std::string& account, const std::string& cidr) {
    return run_with_pool(config, [&](pg::Pool& pool) -> asio::awaitable<int> {
        auto id = co_await account_id(pool, account);
        if (!id) {
            std::cerr << "smarthost: account \"" << account << "\" does not exist\n";
            co_return 1;
        }
        auto rows = co_await pool.query(k_add_network, *id, cidr);
        if (!rows) {
            const auto& e = rows.error();
            if (pg::classify(e.code) == pg::SqlStateClass::exclusion_violation)
                std::cerr << "smarthost: " << cidr << " overlaps a network of an account\n";
            else if (e.code == "22P02")
                std::cerr << "smarthost: " << cidr << " is not a network (CIDR expected)\n";
            else
                std::cerr << "smarthost: " << e.message << '\n';
            co_return 1;
        }
        std::cout << cidr << " may now relay for " << account << '\n';
        co_return 0;
    });
}

int create_token(const Config& config, const std::string& name) {
    return run_with_pool(config, [&](pg::Pool& pool) -> asio::awaitable<int> {
        auto token = co_await admin::create_api_token(pool, name);
        if (!token) {
            if (pg::classify(token.error().code) == pg::SqlStateClass::unique_violation)
                std::cerr << "smarthost: a token named \"" << name << "\" exists already\n";
            else
                std::cerr << "smarthost: " << token.error().message << '\n';
            co_return 1;
        }
        // Shown once: only its SHA-256 is stored.
        std::cout << token.value() << '\n';
        co_return 0;
    });
}

namespace {

// One line on stdout when the token is registered, or the conflict on stderr and 1.
int report_import(const admin::TokenImport& found, const std::string& name) {
    using Outcome = admin::TokenImport::Outcome;
    const auto id = std::to_string(found.id);
    switch (found.outcome) {
        case Outcome::registered:
            std::cout << "registered the admin API token \"" << name << "\" (id " << id << ")\n";
            return 0;
        case Outcome::registered_already:
            if (found.revoked) {
                std::cerr << "smarthost: the token is registered as \"" << name << "\" (id " << id
                          << ") but revoked, and a revoked token is never revived: import a new "
                             "token under a new --name (adminToken.name in the Helm chart), or "
                             "stop importing it (an empty adminToken.existingSecret)\n";
                return 1;
            }
            std::cout << "the admin API token \"" << name << "\" is registered already (id " << id
                      << "); nothing changed\n";
            return 0;
        case Outcome::name_taken:
            std::cerr << "smarthost: the name \"" << name
                      << "\" is registered for a different token (id " << id
                      << (found.revoked ? ", revoked" : "")
                      << "); a changed token never replaces it: import the new token under a new "
                         "--name (adminToken.name in the Helm chart)";
            if (!found.revoked)
                std::cerr << ", then revoke the old one: POST /api/v1/tokens/" << id << "/revoke";
            std::cerr << '\n';
            return 1;
        case Outcome::registered_as_other:
            std::cerr << "smarthost: the token is registered already under the name \""
                      << found.existing_name << "\" (id " << id
                      << (found.revoked ? ", revoked" : "") << "), not \"" << name
                      << "\": a token has one name; import a new token under \"" << name
                      << "\", or use --name \"" << found.existing_name << "\"\n";
            return 1;
    }
    return 1;
}

}  // namespace

int import_token(const Config& config, const std::string& name, const std::string& token_variable) {
    if (name.empty()) {
        std::cerr << "smarthost: --name must not be empty\n";
        return 2;
    }
    if (token_variable.empty()) {
        std::cerr << "smarthost: --env must name an environment variable\n";
        return 2;
    }
    const char* token = std::getenv(token_variable.c_str());
    if (token == nullptr || *token == '\0') {
        std::cerr << "smarthost: the environment variable " << token_variable
                  << (token == nullptr ? " is not set" : " is empty")
                  << "; it must hold the admin API token to import\n";
        return 2;
    }
    if (const auto problem = admin::imported_token_problem(token)) {
        std::cerr << "smarthost: " << token_variable << ": " << *problem << '\n';
        return 2;
    }
    return run_with_pool(config, [&](pg::Pool& pool) -> asio::awaitable<int> {
        auto found = co_await admin::import_api_token(pool, name, token);
        if (!found) {
            std::cerr << "smarthost: " << found.error().message << '\n';
            co_return 1;
        }
        co_return report_import(*found, name);
    });
}

}  // namespace smarthost
