#pragma once
// The dkim_keys rows (schema/0011_dkim.sql): keys made or imported for a sender domain,
// sealed with the key-encryption key, and their life: created → active → retired →
// deleted. Shared by the admin API and the CLI; no private key ever leaves it, sealed or
// not (StoredKey has the public half only).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "relay/dkim/key_vault.hpp"
#include "relay/dkim/signature_fields.hpp"
#include "relay/dkim/signing_policy.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::dkim {

enum class KeyState { created, active, retired };
const char* to_string(KeyState state);
std::optional<KeyState> parse_key_state(std::string_view text);

// What the last lookup of the key's record found (an inconclusive lookup changes nothing).
enum class DnsStatus { unchecked, published, missing, mismatch };
const char* to_string(DnsStatus status);
std::optional<DnsStatus> parse_dns_status(std::string_view text);

// Callers may grow a domain's keys only this far (docs/security.md).
inline constexpr std::size_t k_max_keys_per_domain = 10;
inline constexpr std::size_t k_max_pem_bytes = 16 * 1024;

struct StoredKey {
    std::int64_t id = 0;
    std::int64_t domain_id = 0;
    std::string domain;
    std::string selector;
    Algorithm algorithm = Algorithm::rsa_sha256;
    unsigned key_bits = 0;
    std::string public_key;  // p= (base64)
    KeyState state = KeyState::created;
    bool imported = false;
    DnsStatus dns_status = DnsStatus::unchecked;
    SigningPolicy domain_policy = SigningPolicy::verified;
    // RFC 3339 as PostgreSQL's JSON writes them; nullopt where the column is NULL.
    std::optional<std::string> dns_checked_at;
    std::string created_at;
    std::optional<std::string> activated_at;
    std::optional<std::string> retired_at;
};

// Why a change was refused: `kind` maps to a status (404, 409, 422), `field` names the
// request field at fault when there is one.
struct KeyRefusal {
    enum class Kind { not_found, conflict, invalid } kind = Kind::conflict;
    std::string field;
    std::string message;
};

template <class T>
using KeyOutcome = std::variant<T, KeyRefusal>;

// The audit_log row written in the same statement as a change (admin-api/audit.hpp): a
// change and its audit row commit together, and a refused change leaves none.
struct AuditRecord {
    std::string token_name;
    std::string method;
    std::string path;
    unsigned status = 200;
};

struct NewKey {
    std::int64_t domain_id = 0;
    // nullopt: rsa-sha256, or the imported key's own algorithm.
    std::optional<Algorithm> algorithm;
    // nullopt: default_selector(now), with "b", "c", ... appended while that is taken.
    std::optional<std::string> selector;
    std::optional<std::string> private_key_pem;  // import instead of generating
};

class KeyStore {
  public:
    using Clock = std::chrono::system_clock;

    // The pool and the callers run on one executor (pg::Pool). `vault` must outlive this.
    // `key_work`: where keys are generated and parsed (CPU work kept off the I/O thread, as
    // argon2id is); none: on the caller's thread (the CLI).
    KeyStore(pg::Pool& pool, const KeyVault& vault, boost::asio::any_io_executor key_work = {})
        : pool_(pool), vault_(vault), key_work_(std::move(key_work)) {}

    // Generates (RSA-2048 or Ed25519) or imports the key, seals it for "<domain>/<selector>"
    // and stores it as created. Refusals: no such domain (not_found); k_max_keys_per_domain
    // reached or the selector taken (conflict); a bad selector, algorithm or PEM (invalid,
    // on the field at fault).
    boost::asio::awaitable<Result<KeyOutcome<StoredKey>>> create(NewKey request,
                                                                 Clock::time_point now,
                                                                 const AuditRecord* audit);

    // nullopt: no such domain.
    boost::asio::awaitable<Result<std::optional<std::vector<StoredKey>>>> list(
        std::int64_t domain_id);
    boost::asio::awaitable<Result<std::optional<StoredKey>>> get(std::int64_t key_id);

    // In one transaction: the domain's active key of the same algorithm becomes retired
    // and this one active, so every replica sees one signing key or the other, never
    // none or both (the one-active index holds it). Refused: a retired key (it is not
    // brought back: create a new one); a key whose record is not seen published while
    // the domain's policy is "verified", unless `force`. An active key stays as it is.
    boost::asio::awaitable<Result<KeyOutcome<StoredKey>>> activate(std::int64_t key_id, bool force,
                                                                   Clock::time_point now,
                                                                   const AuditRecord* audit);
    // Stops the key signing; it stays listed until deleted. A retired key stays as it is.
    boost::asio::awaitable<Result<KeyOutcome<StoredKey>>> retire(std::int64_t key_id,
                                                                 Clock::time_point now,
                                                                 const AuditRecord* audit);
    // Refused for an active key (retire it first: mail would go out unsigned at once).
    boost::asio::awaitable<Result<KeyOutcome<StoredKey>>> remove(std::int64_t key_id,
                                                                 const AuditRecord* audit);

    // The key as stored, with the audit row of a check made for the API's verify-now
    // (KeyRecordChecker stores the outcome itself). nullopt: no such key.
    boost::asio::awaitable<Result<std::optional<StoredKey>>> audit_check(std::int64_t key_id,
                                                                         const AuditRecord& audit);

  private:
    boost::asio::awaitable<Result<std::string>> free_selector(std::int64_t domain_id,
                                                              Clock::time_point now);

    pg::Pool& pool_;
    const KeyVault& vault_;
    boost::asio::any_io_executor key_work_;
};

// Microseconds since the epoch, bound as a parameter where SQL needs `now` (tests pin it:
// no now() in the statements).
std::int64_t epoch_microseconds(std::chrono::system_clock::time_point time);

}  // namespace smarthost::dkim
