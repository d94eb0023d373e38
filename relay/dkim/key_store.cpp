#include "relay/dkim/key_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "relay/dkim/keys.hpp"

namespace smarthost::dkim {
namespace {

namespace asio = boost::asio;

// A key as the API shows it, over the key `k` and its domain `d`.
constexpr std::string_view k_key_columns =
    "k.id, k.sender_domain_id, d.domain, k.selector, k.algorithm, k.key_bits, k.public_key, "
    "k.state, k.imported, k.dns_status, d.dkim_policy, to_json(k.dns_checked_at) #>> '{}', "
    "to_json(k.created_at) #>> '{}', to_json(k.activated_at) #>> '{}', "
    "to_json(k.retired_at) #>> '{}'";

constexpr std::string_view k_key_audit =
    "jsonb_build_object('id', k.id, 'domain_id', k.sender_domain_id, 'selector', k.selector, "
    "'algorithm', k.algorithm, 'state', k.state)";

constexpr std::string_view k_domain_of =
    "SELECT d.domain, (SELECT count(*) FROM dkim_keys WHERE sender_domain_id = d.id) "
    "FROM sender_domains d WHERE d.id = $1";
constexpr std::string_view k_selectors_like =
    "SELECT selector FROM dkim_keys WHERE sender_domain_id = $1 AND starts_with(selector, $2)";
// Taken by the create transaction first, so that concurrent creates count each other's
// rows against k_max_keys_per_domain.
constexpr std::string_view k_lock_domain = "SELECT id FROM sender_domains WHERE id = $1 FOR UPDATE";
constexpr std::string_view k_insert_key = R"sql(
INSERT INTO dkim_keys (sender_domain_id, selector, algorithm, key_bits, public_key,
                       private_key_sealed, imported, created_at)
SELECT $1::bigint, $2::text, $3::text, $4::int, $5::text, $6::bytea, $7::boolean,
       to_timestamp($8::bigint / 1000000.0)
 WHERE (SELECT count(*) FROM dkim_keys WHERE sender_domain_id = $1::bigint) < $9::bigint
RETURNING *)sql";

// Activation: both statements repeat the checks made before them ($3: force), so a key
// retired or a policy changed in between makes the second one touch nothing.
constexpr std::string_view k_retire_previous = R"sql(
UPDATE dkim_keys o SET state = 'retired', retired_at = to_timestamp($2::bigint / 1000000.0)
  FROM dkim_keys n JOIN sender_domains d ON d.id = n.sender_domain_id
 WHERE n.id = $1::bigint AND n.state = 'created'
   AND ($3::boolean OR d.dkim_policy <> 'verified' OR n.dns_status = 'published')
   AND o.sender_domain_id = n.sender_domain_id AND o.algorithm = n.algorithm
   AND o.state = 'active' AND o.id <> n.id)sql";
constexpr std::string_view k_activate = R"sql(
UPDATE dkim_keys n SET state = 'active', activated_at = to_timestamp($2::bigint / 1000000.0)
  FROM sender_domains d
 WHERE n.id = $1::bigint AND n.state = 'created' AND d.id = n.sender_domain_id
   AND ($3::boolean OR d.dkim_policy <> 'verified' OR n.dns_status = 'published')
RETURNING n.*)sql";
constexpr std::string_view k_retire = R"sql(
UPDATE dkim_keys SET state = 'retired', retired_at = to_timestamp($2::bigint / 1000000.0)
 WHERE id = $1::bigint AND state <> 'retired'
RETURNING *)sql";
// A change of nothing, so that verify-now is in the audit log like any other call that
// writes (admin-api/sender_domains.cpp does the same for a domain's check).
constexpr std::string_view k_touch = R"sql(
UPDATE dkim_keys SET dns_checked_at = dns_checked_at WHERE id = $1::bigint RETURNING *)sql";
constexpr std::string_view k_delete = R"sql(
DELETE FROM dkim_keys WHERE id = $1::bigint AND state <> 'active' RETURNING *)sql";

using pg::params_of;

// The audit row of the changed key, its parameters from $first on.
std::string audit_cte(std::size_t first) {
    auto param = [first](std::size_t offset, const char* type) {
        return "$" + std::to_string(first + offset) + "::" + type;
    };
    return ", audit AS (INSERT INTO audit_log (token_name, method, path, status, detail) "
           "SELECT " +
           param(0, "text") + ", " + param(1, "text") + ", " + param(2, "text") + ", " +
           param(3, "int") + ", " + std::string(k_key_audit) + " FROM changed k)";
}

// `dml` (… RETURNING * of dkim_keys) with its audit row, returning k_key_columns.
pg::Statement change(std::string_view dml, std::vector<pg::Param> params,
                     const AuditRecord* audit) {
    pg::Statement statement;
    statement.sql = "WITH changed AS (" + std::string(dml) + ")";
    if (audit) {
        const auto first = params.size() + 1;
        statement.sql += audit_cte(first);
        params.push_back(pg::to_param(audit->token_name));
        params.push_back(pg::to_param(audit->method));
        params.push_back(pg::to_param(audit->path));
        params.push_back(pg::to_param(static_cast<std::int64_t>(audit->status)));
    }
    statement.sql += " SELECT " + std::string(k_key_columns) +
                     " FROM changed k JOIN sender_domains d ON d.id = k.sender_domain_id";
    statement.params = std::move(params);
    return statement;
}

std::vector<StoredKey> stored_keys(const pg::Rows& rows) {
    std::vector<StoredKey> keys;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        StoredKey key;
        key.id = rows.get_int(i, 0);
        key.domain_id = rows.get_int(i, 1);
        key.domain = rows.get(i, 2);
        key.selector = rows.get(i, 3);
        key.algorithm = parse_algorithm(rows.get(i, 4)).value_or(Algorithm::rsa_sha256);
        key.key_bits = static_cast<unsigned>(rows.get_int(i, 5));
        key.public_key = rows.get(i, 6);
        key.state = parse_key_state(rows.get(i, 7)).value_or(KeyState::created);
        key.imported = rows.get_bool(i, 8);
        key.dns_status = parse_dns_status(rows.get(i, 9)).value_or(DnsStatus::unchecked);
        key.domain_policy = parse_signing_policy(rows.get(i, 10)).value_or(SigningPolicy::verified);
        auto optional_text = [&](std::size_t column) -> std::optional<std::string> {
            if (rows.is_null(i, column)) return std::nullopt;
            return std::string(rows.get(i, column));
        };
        key.dns_checked_at = optional_text(11);
        key.created_at = rows.get(i, 12);
        key.activated_at = optional_text(13);
        key.retired_at = optional_text(14);
        keys.push_back(std::move(key));
    }
    return keys;
}

KeyRefusal refusal(KeyRefusal::Kind kind, std::string field, std::string message) {
    KeyRefusal refused;
    refused.kind = kind;
    refused.field = std::move(field);
    refused.message = std::move(message);
    return refused;
}

// Why an imported PEM was refused, for the caller: the parser's reason (a key size, an
// encrypted key), but not text quoting PEM armour, so that no answer ever has
// "PRIVATE KEY" in it and a scan for leaked keys stays exact.
std::string pem_refusal(const Error& error) {
    if (error.message.find("PRIVATE KEY") == std::string::npos) return error.message;
    return "not an unencrypted PEM private key (PKCS#8, or PKCS#1 for RSA)";
}

// The names the schema's CHECK constraints allow, each enum's default first.
template <class Enum>
struct Named {
    Enum value;
    const char* name;
};
constexpr Named<KeyState> k_key_states[] = {
    {KeyState::created, "created"}, {KeyState::active, "active"}, {KeyState::retired, "retired"}};
constexpr Named<DnsStatus> k_dns_statuses[] = {{DnsStatus::unchecked, "unchecked"},
                                               {DnsStatus::published, "published"},
                                               {DnsStatus::missing, "missing"},
                                               {DnsStatus::mismatch, "mismatch"}};

template <class Enum, std::size_t N>
const char* name_of(const Named<Enum> (&names)[N], Enum value) {
    for (const auto& named : names)
        if (named.value == value) return named.name;
    return names[0].name;
}

template <class Enum, std::size_t N>
std::optional<Enum> value_of(const Named<Enum> (&names)[N], std::string_view text) {
    for (const auto& named : names)
        if (text == named.name) return named.value;
    return std::nullopt;
}

// The key the request asks for: imported from its PEM, or generated. Generating an RSA key
// takes tens to hundreds of milliseconds of CPU, which is why it may run on key_work.
Result<KeyOutcome<PrivateKey>> make_key(const NewKey& request) {
    using Kind = KeyRefusal::Kind;
    if (!request.private_key_pem) {
        auto generated = PrivateKey::generate(request.algorithm.value_or(Algorithm::rsa_sha256));
        if (!generated) return generated.error();
        return KeyOutcome<PrivateKey>(std::move(*generated));
    }
    auto imported = PrivateKey::from_pem(*request.private_key_pem);
    if (!imported)
        return KeyOutcome<PrivateKey>(
            refusal(Kind::invalid, "private_key_pem", pem_refusal(imported.error())));
    if (request.algorithm && *request.algorithm != imported->algorithm())
        return KeyOutcome<PrivateKey>(
            refusal(Kind::invalid, "algorithm",
                    std::string("the imported key is ") + to_string(imported->algorithm())));
    return KeyOutcome<PrivateKey>(std::move(*imported));
}

KeyRefusal key_not_found() {
    return refusal(KeyRefusal::Kind::not_found, "", "no such key");
}

}  // namespace

const char* to_string(KeyState state) {
    return name_of(k_key_states, state);
}

std::optional<KeyState> parse_key_state(std::string_view text) {
    return value_of(k_key_states, text);
}

const char* to_string(DnsStatus status) {
    return name_of(k_dns_statuses, status);
}

std::optional<DnsStatus> parse_dns_status(std::string_view text) {
    return value_of(k_dns_statuses, text);
}

std::int64_t epoch_microseconds(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
}

asio::awaitable<Result<std::string>> KeyStore::free_selector(std::int64_t domain_id,
                                                             Clock::time_point now) {
    const auto base = default_selector(now);
    auto rows = co_await pool_.query(std::string(k_selectors_like), domain_id, base);
    if (!rows) co_return rows.error();
    std::set<std::string, std::less<>> taken;
    for (std::size_t i = 0; i < rows->size(); ++i)
        taken.emplace(rows->get(i, 0));
    if (!taken.contains(base)) co_return base;
    // "sh2026q4", then "sh2026q4b", "sh2026q4c", ...: a second key in one quarter.
    for (char suffix = 'b'; suffix <= 'z'; ++suffix) {
        auto candidate = base + suffix;
        if (!taken.contains(candidate)) co_return candidate;
    }
    co_return Error{"every selector of " + base + " is taken", "", false};
}

asio::awaitable<Result<KeyOutcome<StoredKey>>> KeyStore::create(NewKey request,
                                                                Clock::time_point now,
                                                                const AuditRecord* audit) {
    using Kind = KeyRefusal::Kind;
    if (request.selector && !valid_selector(*request.selector))
        co_return refusal(Kind::invalid, "selector",
                          "a selector is dot-separated labels of lower-case letters, digits "
                          "and '-', at most 63 octets");
    if (request.private_key_pem && request.private_key_pem->size() > k_max_pem_bytes)
        co_return refusal(Kind::invalid, "private_key_pem",
                          "at most " + std::to_string(k_max_pem_bytes) + " octets");

    auto domain_rows = co_await pool_.query(std::string(k_domain_of), request.domain_id);
    if (!domain_rows) co_return domain_rows.error();
    if (domain_rows->empty()) co_return refusal(Kind::not_found, "", "no such domain");
    const std::string domain(domain_rows->get(0, 0));
    if (static_cast<std::size_t>(domain_rows->get_int(0, 1)) >= k_max_keys_per_domain)
        co_return refusal(Kind::conflict, "",
                          "the domain has " + std::to_string(k_max_keys_per_domain) +
                              " keys already: delete a retired one first");

    std::optional<Result<KeyOutcome<PrivateKey>>> made;
    if (key_work_) {
        made = co_await asio::co_spawn(
            key_work_,
            [&request]() -> asio::awaitable<std::optional<Result<KeyOutcome<PrivateKey>>>> {
                co_return make_key(request);
            },
            asio::use_awaitable);
    } else {
        made = make_key(request);
    }
    if (!*made) co_return made->error();
    if (auto* refused = std::get_if<KeyRefusal>(&made->value())) co_return std::move(*refused);
    const auto key = std::get<PrivateKey>(std::move(made->value()));

    std::string selector;
    if (request.selector) {
        selector = *request.selector;
    } else {
        auto chosen = co_await free_selector(request.domain_id, now);
        if (!chosen) co_return chosen.error();
        selector = std::move(*chosen);
    }

    const auto sealed = vault_.seal(key.pem(), key_owner(domain, selector));
    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{std::string(k_lock_domain), params_of(request.domain_id)});
    statements.push_back(
        change(k_insert_key,
               params_of(request.domain_id, selector, std::string(to_string(key.algorithm())),
                         static_cast<std::int64_t>(key.bits()), key.public_key_base64(),
                         pg::bytes(sealed), request.private_key_pem.has_value(),
                         epoch_microseconds(now), static_cast<std::int64_t>(k_max_keys_per_domain)),
               audit));
    auto done = co_await pool_.transaction(std::move(statements));
    if (!done) {
        const auto sql_class = pg::classify(done.error().code);
        if (sql_class == pg::SqlStateClass::unique_violation)
            co_return refusal(Kind::conflict, "selector",
                              "the domain has a key with this selector already");
        if (sql_class == pg::SqlStateClass::check_violation)
            co_return refusal(Kind::invalid, "selector", "not a usable selector");
        co_return done.error();
    }
    if ((*done)[0].empty()) co_return refusal(Kind::not_found, "", "no such domain");
    auto keys = stored_keys((*done)[1]);
    if (keys.empty())
        co_return refusal(Kind::conflict, "",
                          "the domain has " + std::to_string(k_max_keys_per_domain) +
                              " keys already: delete a retired one first");
    co_return std::move(keys.front());
}

asio::awaitable<Result<std::optional<std::vector<StoredKey>>>> KeyStore::list(
    std::int64_t domain_id) {
    auto rows = co_await pool_.query(
        "SELECT " + std::string(k_key_columns) +
            ", d.id FROM sender_domains d LEFT JOIN dkim_keys k ON k.sender_domain_id = d.id "
            "WHERE d.id = $1 ORDER BY k.id",
        domain_id);
    if (!rows) co_return rows.error();
    if (rows->empty()) co_return std::optional<std::vector<StoredKey>>();
    // A domain without keys is one row of NULL key columns.
    if (rows->is_null(0, 0)) co_return std::optional<std::vector<StoredKey>>(std::in_place);
    co_return std::optional<std::vector<StoredKey>>(stored_keys(*rows));
}

asio::awaitable<Result<std::optional<StoredKey>>> KeyStore::get(std::int64_t key_id) {
    auto rows = co_await pool_.query(
        "SELECT " + std::string(k_key_columns) +
            " FROM dkim_keys k JOIN sender_domains d ON d.id = k.sender_domain_id WHERE k.id = $1",
        key_id);
    if (!rows) co_return rows.error();
    auto keys = stored_keys(*rows);
    if (keys.empty()) co_return std::optional<StoredKey>();
    co_return std::optional<StoredKey>(std::move(keys.front()));
}

asio::awaitable<Result<KeyOutcome<StoredKey>>> KeyStore::activate(std::int64_t key_id, bool force,
                                                                  Clock::time_point now,
                                                                  const AuditRecord* audit) {
    using Kind = KeyRefusal::Kind;
    auto found = co_await get(key_id);
    if (!found) co_return found.error();
    if (!*found) co_return key_not_found();
    const auto& key = **found;
    if (key.state == KeyState::active) co_return key;
    if (key.state == KeyState::retired)
        co_return refusal(Kind::conflict, "",
                          "a retired key is not activated again: create a new key, publish its "
                          "record and activate that");
    if (!force && key.domain_policy == SigningPolicy::verified &&
        key.dns_status != DnsStatus::published)
        co_return refusal(Kind::conflict, "force",
                          "the domain signs only with published keys (dkim_policy \"verified\") "
                          "and this key's record was not seen (dns_status \"" +
                              std::string(to_string(key.dns_status)) +
                              "\"): publish the TXT record and verify it first, or activate "
                              "with \"force\": true");

    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{std::string(k_retire_previous),
                                       params_of(key_id, epoch_microseconds(now), force)});
    statements.push_back(
        change(k_activate, params_of(key_id, epoch_microseconds(now), force), audit));
    auto done = co_await pool_.transaction(std::move(statements));
    if (!done) {
        if (pg::classify(done.error().code) == pg::SqlStateClass::unique_violation)
            co_return refusal(Kind::conflict, "",
                              "another key of this algorithm was activated at the same time");
        co_return done.error();
    }
    auto keys = stored_keys((*done)[1]);
    if (keys.empty())
        co_return refusal(Kind::conflict, "", "the key changed meanwhile: look at it again");
    co_return std::move(keys.front());
}

asio::awaitable<Result<KeyOutcome<StoredKey>>> KeyStore::retire(std::int64_t key_id,
                                                                Clock::time_point now,
                                                                const AuditRecord* audit) {
    auto statement = change(k_retire, params_of(key_id, epoch_microseconds(now)), audit);
    auto rows = co_await pool_.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return rows.error();
    auto keys = stored_keys(*rows);
    if (!keys.empty()) co_return std::move(keys.front());
    auto found = co_await get(key_id);
    if (!found) co_return found.error();
    if (!*found) co_return key_not_found();
    co_return std::move(**found);
}

asio::awaitable<Result<KeyOutcome<StoredKey>>> KeyStore::remove(std::int64_t key_id,
                                                                const AuditRecord* audit) {
    auto statement = change(k_delete, params_of(key_id), audit);
    auto rows = co_await pool_.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return rows.error();
    auto keys = stored_keys(*rows);
    if (!keys.empty()) co_return std::move(keys.front());
    auto found = co_await get(key_id);
    if (!found) co_return found.error();
    if (!*found) co_return key_not_found();
    co_return refusal(KeyRefusal::Kind::conflict, "",
                      "the key is active: retire it first (or activate another key of its "
                      "algorithm), then delete it");
}

asio::awaitable<Result<std::optional<StoredKey>>> KeyStore::audit_check(std::int64_t key_id,
                                                                        const AuditRecord& audit) {
    auto statement = change(k_touch, params_of(key_id), &audit);
    auto rows = co_await pool_.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return rows.error();
    auto keys = stored_keys(*rows);
    if (keys.empty()) co_return std::optional<StoredKey>();
    co_return std::optional<StoredKey>(std::move(keys.front()));
}

}  // namespace smarthost::dkim
