// Bootstrap commands for operators: accounts, credentials, networks and admin API tokens
// from the shell.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <iostream>

#include "admin-api/dkim_keys.hpp"
#include "admin-api/tokens.hpp"
#include "app/commands.hpp"
#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "relay/dkim/key_store.hpp"
#include "relay/dkim/key_vault.hpp"

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

namespace {

constexpr const char* k_domains_named = R"sql(
SELECT d.id, a.name FROM sender_domains d JOIN accounts a ON a.id = d.account_id
 WHERE d.domain = lower($1) AND ($2::text IS NULL OR a.name = $2)
 ORDER BY a.name)sql";

// The sender domain named on the command line, or nullopt after saying why on stderr.
asio::awaitable<std::optional<std::int64_t>> domain_named(pg::Pool& pool,
                                                          const DkimKeyRequest& request) {
    const std::optional<std::string> account =
        request.account.empty() ? std::nullopt : std::optional<std::string>(request.account);
    auto rows = co_await pool.query(k_domains_named, request.domain, account);
    if (!rows) throw std::runtime_error(rows.error().message);
    if (rows->empty()) {
        std::cerr << "smarthost: no account has the sender domain \"" << request.domain << "\""
                  << (account ? " (with --account " + *account + ")" : std::string()) << '\n';
        co_return std::nullopt;
    }
    if (rows->size() > 1) {
        std::cerr << "smarthost: several accounts have the sender domain \"" << request.domain
                  << "\"; name one with --account:";
        for (std::size_t i = 0; i < rows->size(); ++i)
            std::cerr << ' ' << rows->get(i, 1);
        std::cerr << '\n';
        co_return std::nullopt;
    }
    co_return rows->get_int(0, 0);
}

// The vault, or nullopt after saying why: without a KEK no key is made or shown.
std::optional<dkim::KeyVault> dkim_vault(const Config& config) {
    if (!config.dkim.key_encryption_key_configured()) {
        std::cerr << "smarthost: dkim key-encryption key not configured ([dkim] "
                     "key_encryption_key or SMARTHOST_DKIM_KEK)\n";
        return std::nullopt;
    }
    auto vault = dkim::KeyVault::from_base64(config.dkim.key_encryption_key);
    if (!vault) throw std::runtime_error("dkim: the key-encryption key is unusable");
    return std::move(*vault);
}

void print_key(const dkim::StoredKey& key) {
    std::cout << "key " << key.id << ": " << key.domain << " selector " << key.selector << ", "
              << dkim::to_string(key.algorithm) << ' ' << key.key_bits << " bits, "
              << dkim::to_string(key.state) << ", record " << dkim::to_string(key.dns_status)
              << '\n'
              << "  " << admin::zone_file_line(key) << '\n';
}

// A refused change on stderr; 1.
int report_refusal(const dkim::KeyRefusal& refusal) {
    std::cerr << "smarthost: " << (refusal.field.empty() ? "" : refusal.field + ": ")
              << refusal.message << '\n';
    return 1;
}

}  // namespace

int dkim_create(const Config& config, const DkimKeyRequest& request) {
    const auto algorithm = dkim::parse_algorithm(request.algorithm);
    if (!algorithm) {
        std::cerr << "smarthost: --algorithm must be rsa-sha256 or ed25519-sha256\n";
        return 2;
    }
    const auto vault = dkim_vault(config);
    if (!vault) return 2;
    return run_with_pool(config, [&](pg::Pool& pool) -> asio::awaitable<int> {
        const auto domain_id = co_await domain_named(pool, request);
        if (!domain_id) co_return 1;
        dkim::NewKey key;
        key.domain_id = *domain_id;
        key.algorithm = algorithm;
        if (!request.selector.empty()) key.selector = request.selector;
        dkim::KeyStore store(pool, *vault);
        auto created = co_await store.create(key, std::chrono::system_clock::now(), nullptr);
        if (!created) throw std::runtime_error(created.error().message);
        if (const auto* refusal = std::get_if<dkim::KeyRefusal>(&*created))
            co_return report_refusal(*refusal);
        print_key(std::get<dkim::StoredKey>(*created));
        std::cout << "publish the TXT record, then: smarthost dkim activate --key "
                  << std::get<dkim::StoredKey>(*created).id << '\n';
        co_return 0;
    });
}

int dkim_show(const Config& config, const DkimKeyRequest& request) {
    const auto vault = dkim_vault(config);
    if (!vault) return 2;
    return run_with_pool(config, [&](pg::Pool& pool) -> asio::awaitable<int> {
        const auto domain_id = co_await domain_named(pool, request);
        if (!domain_id) co_return 1;
        dkim::KeyStore store(pool, *vault);
        auto keys = co_await store.list(*domain_id);
        if (!keys) throw std::runtime_error(keys.error().message);
        if (!*keys || (*keys)->empty()) {
            std::cout << request.domain << " has no DKIM keys\n";
            co_return 0;
        }
        for (const auto& key : **keys)
            print_key(key);
        co_return 0;
    });
}

int dkim_activate(const Config& config, std::int64_t key_id, bool force) {
    const auto vault = dkim_vault(config);
    if (!vault) return 2;
    return run_with_pool(config, [&](pg::Pool& pool) -> asio::awaitable<int> {
        dkim::KeyStore store(pool, *vault);
        auto activated =
            co_await store.activate(key_id, force, std::chrono::system_clock::now(), nullptr);
        if (!activated) throw std::runtime_error(activated.error().message);
        if (const auto* refusal = std::get_if<dkim::KeyRefusal>(&*activated))
            co_return report_refusal(*refusal);
        print_key(std::get<dkim::StoredKey>(*activated));
        co_return 0;
    });
}

}  // namespace smarthost
