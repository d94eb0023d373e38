#pragma once
// Private keys at rest: sealed with the key-encryption key (KEK) of the configuration
// (`[dkim] key_encryption_key`, or the SMARTHOST_DKIM_KEK environment variable) by
// XChaCha20-Poly1305 (libsodium). The owner of a key (its sender domain and selector) is
// the associated data, so a sealed key copied onto another domain's row does not open.

#include <array>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace smarthost::dkim {

class KeyVault {
  public:
    // The KEK as 32 octets in base64 (`openssl rand -base64 32`); an Error when it is not.
    static Result<KeyVault> from_base64(std::string_view key_encryption_key);

    // nonce (24 octets) || ciphertext; what the dkim_keys row stores.
    std::string seal(std::string_view private_key_pem, std::string_view owner) const;
    // An Error when the sealed key was altered, sealed for another owner or with another KEK.
    Result<std::string> open(std::string_view sealed, std::string_view owner) const;

  private:
    KeyVault() = default;
    std::array<unsigned char, 32> key_{};
};

// The associated data of a key: "<domain>/<selector>".
std::string key_owner(std::string_view domain, std::string_view selector);

}  // namespace smarthost::dkim
