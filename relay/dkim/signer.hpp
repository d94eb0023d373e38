#pragma once
// Signing a message (RFC 6376 section 5; RFC 8463 for Ed25519) and checking a signature
// it already carries. No I/O: the keys and the clock are given.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "relay/dkim/keys.hpp"

namespace smarthost::dkim {

struct SigningKey {
    std::string domain;  // d=
    std::string selector;
    PrivateKey key;
};

struct SigningOptions {
    std::chrono::system_clock::time_point now;   // t=
    std::optional<std::chrono::seconds> expiry;  // x = t + expiry, when set
};

// The DKIM-Signature fields (each ending in CRLF), one per key in order, to put in front of
// `message` (header section, empty line, body). relaxed/relaxed, the headers of
// headers_to_sign(). An Error when a key cannot sign (an OpenSSL failure).
Result<std::string> sign(std::string_view message, const std::vector<SigningKey>& keys,
                         const SigningOptions& options);

// The signatures in `message`'s header section that this relay can check, each with the
// raw value of its field (for the header hash).
struct FoundSignature {
    Signature signature;
    std::string_view name;  // the field name as written
    std::string_view raw_value;
};
std::vector<FoundSignature> signatures_in(std::string_view message);

// The key of `keys` whose valid signature `message` already carries (same d=, same
// selector), if any. At most `max_checked` candidate signatures are checked, each costing a
// body hash and a public-key operation: a message cannot make the relay check thousands.
std::optional<std::size_t> already_signed_by(std::string_view message,
                                             const std::vector<SigningKey>& keys,
                                             std::chrono::system_clock::time_point now,
                                             std::size_t max_checked = 3);

// Whether `found` is a valid signature of `message` by `key` at `now`: the body hash
// matches, the header hash verifies, and x= has not passed.
bool verify(std::string_view message, const FoundSignature& found, const PublicKey& key,
            std::chrono::system_clock::time_point now);

}  // namespace smarthost::dkim
