#pragma once
// DKIM keys (OpenSSL): made here or imported as PEM, and the TXT record that publishes the
// public half (RFC 6376 section 3.6.1; RFC 8463 for Ed25519).

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "relay/dkim/signature_fields.hpp"

namespace smarthost::dkim {

class PrivateKey {
  public:
    // RSA-2048 (the size receivers expect; RFC 8301 asks for at least 1024) or Ed25519.
    static Result<PrivateKey> generate(Algorithm algorithm);
    // A PEM private key (PKCS#8 "PRIVATE KEY", or "RSA PRIVATE KEY"): RSA of 1024 to 4096
    // bits or Ed25519; anything else, encrypted PEM included, is an Error that says why.
    static Result<PrivateKey> from_pem(std::string_view pem);

    Algorithm algorithm() const { return algorithm_; }
    unsigned bits() const { return bits_; }
    // PKCS#8 PEM: what is sealed and stored.
    std::string pem() const;
    // The p= of the key record: base64 of the SubjectPublicKeyInfo (RSA) or of the 32
    // octets of the public key (Ed25519, RFC 8463 section 4).
    std::string public_key_base64() const;

    // The signature of `data` (the canonical header hash input): RSASSA-PKCS1-v1_5 with
    // SHA-256, or Ed25519 over SHA-256(data) (RFC 8463 section 3). Raw, not base64.
    Result<std::string> sign(std::string_view data) const;

    struct Handle;  // OpenSSL's EVP_PKEY

  private:
    PrivateKey(std::shared_ptr<Handle> handle, Algorithm algorithm, unsigned bits);
    std::shared_ptr<Handle> handle_;
    Algorithm algorithm_ = Algorithm::rsa_sha256;
    unsigned bits_ = 0;
};

// A public key as published: p= (base64) for a k= type.
class PublicKey {
  public:
    // From the TXT record's text (its character-strings joined): v=DKIM1 when present,
    // k= (default rsa), p=. An empty p= (a revoked key) or a malformed record is an Error.
    static Result<PublicKey> from_record(std::string_view record);
    static Result<PublicKey> from_base64(Algorithm algorithm, std::string_view p);

    Algorithm algorithm() const { return algorithm_; }
    // Whether `signature` (raw) signs `data` as PrivateKey::sign would.
    bool verifies(std::string_view data, std::string_view signature) const;

  private:
    PublicKey(std::shared_ptr<PrivateKey::Handle> handle, Algorithm algorithm);
    std::shared_ptr<PrivateKey::Handle> handle_;
    Algorithm algorithm_ = Algorithm::rsa_sha256;
};

// "v=DKIM1; k=rsa; p=MIIB..." — the TXT record's text.
std::string key_record_text(Algorithm algorithm, std::string_view public_key_base64);
// The text cut into character-strings of at most 255 octets (RFC 1035 section 3.3), as a
// TXT record holds it; each string is published quoted, one after the other.
std::vector<std::string> character_strings(std::string_view text);
// "<selector>._domainkey.<domain>"
std::string key_record_name(std::string_view selector, std::string_view domain);

// The default selector of a key made at `now`: "sh" + year + "q" + quarter ("sh2026q4"),
// so a quarterly rotation gives each key its own name.
std::string default_selector(std::chrono::system_clock::time_point now);
// Whether `selector` is a usable selector: dot-separated labels of letters, digits and
// '-' (RFC 6376 section 3.1), at most 63 octets, lower case.
bool valid_selector(std::string_view selector);

std::string base64_encode(std::string_view data);
// nullopt when `text` is not base64 (white space inside is skipped).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace smarthost::dkim
