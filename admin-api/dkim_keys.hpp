#pragma once
// /api/v1/domains/{id}/dkim-keys and /api/v1/dkim-keys/{id} (docs/admin-api.md "DKIM
// keys"): a sender domain's signing keys, each shown with the TXT record to publish.
// Answers carry the public half only, never the private key, sealed or not.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "admin-api/router.hpp"
#include "core/result.hpp"
#include "relay/dkim/key_check.hpp"

namespace smarthost::dkim {
class KeyVault;
struct StoredKey;
}  // namespace smarthost::dkim

namespace smarthost::admin {

// Looks one key's record up now and stores the outcome (dkim::KeyRecordChecker::check):
// nullopt for no such key.
using VerifyDkimKey = std::function<boost::asio::awaitable<Result<std::optional<dkim::KeyCheck>>>(
    std::int64_t key_id)>;

struct DkimKeyOptions {
    // Null: no key-encryption key configured; every key route answers 503.
    std::shared_ptr<const dkim::KeyVault> vault;
    VerifyDkimKey verify;  // empty: verify-now answers 503 (no resolver)
};

void add_dkim_key_routes(Router& router, DkimKeyOptions options);

// The key as the API shows it, with "dns_record" and "zone_file_line" (and the CLI prints
// the same record).
std::string dkim_key_json(const dkim::StoredKey& key);
// `<name>. IN TXT "<string>" "<string>"...`: one line to paste into a zone file.
std::string zone_file_line(const dkim::StoredKey& key);

}  // namespace smarthost::admin
