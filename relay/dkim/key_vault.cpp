#include "relay/dkim/key_vault.hpp"

#include <sodium.h>

#include "relay/dkim/keys.hpp"

namespace smarthost::dkim {

Result<KeyVault> KeyVault::from_base64(std::string_view key_encryption_key) {
    if (sodium_init() < 0) return Error{"libsodium cannot initialise", {}};
    const auto key = base64_decode(key_encryption_key);
    if (!key || key->size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
        return Error{
            "the DKIM key-encryption key is not 32 octets in base64 (make one with "
            "`openssl rand -base64 32`)",
            {}};
    KeyVault vault;
    std::copy(key->begin(), key->end(), vault.key_.begin());
    sodium_memzero(const_cast<char*>(key->data()), key->size());
    return vault;
}

std::string KeyVault::seal(std::string_view private_key_pem, std::string_view owner) const {
    constexpr std::size_t nonce_size = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    std::string sealed(
        nonce_size + private_key_pem.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    auto* out = reinterpret_cast<unsigned char*>(sealed.data());
    // Random 192-bit nonces never repeat in practice, whatever the number of keys sealed.
    randombytes_buf(out, nonce_size);
    unsigned long long size = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + nonce_size, &size, reinterpret_cast<const unsigned char*>(private_key_pem.data()),
        private_key_pem.size(), reinterpret_cast<const unsigned char*>(owner.data()), owner.size(),
        nullptr, out, key_.data());
    sealed.resize(nonce_size + size);
    return sealed;
}

Result<std::string> KeyVault::open(std::string_view sealed, std::string_view owner) const {
    constexpr std::size_t nonce_size = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    constexpr std::size_t tag_size = crypto_aead_xchacha20poly1305_ietf_ABYTES;
    if (sealed.size() < nonce_size + tag_size) return Error{"the sealed DKIM key is truncated", {}};
    const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
    std::string pem(sealed.size() - nonce_size - tag_size, '\0');
    unsigned long long size = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(pem.data()), &size, nullptr, in + nonce_size,
            sealed.size() - nonce_size, reinterpret_cast<const unsigned char*>(owner.data()),
            owner.size(), in, key_.data()) != 0)
        return Error{
            "the DKIM key of " + std::string(owner) +
                " does not open: altered, moved, or sealed with another key-encryption key",
            {}};
    pem.resize(size);
    return pem;
}

std::string key_owner(std::string_view domain, std::string_view selector) {
    std::string owner(domain);
    owner += '/';
    owner += selector;
    return owner;
}

}  // namespace smarthost::dkim
