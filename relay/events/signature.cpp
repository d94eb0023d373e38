#include "relay/events/signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <array>
#include <stdexcept>

namespace smarthost::events {
namespace {

constexpr std::size_t k_secret_octets = 32;

std::string to_base64(const unsigned char* data, std::size_t size) {
    std::string text(sodium_base64_encoded_len(size, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(text.data(), text.size(), data, size, sodium_base64_VARIANT_ORIGINAL);
    text.resize(text.find('\0'));
    return text;
}

}  // namespace

std::string generate_secret() {
    std::array<unsigned char, k_secret_octets> key{};
    randombytes_buf(key.data(), key.size());
    std::string secret = std::string(k_secret_prefix) + to_base64(key.data(), key.size());
    sodium_memzero(key.data(), key.size());
    return secret;
}

std::optional<std::string> secret_key(std::string_view secret) {
    if (!secret.starts_with(k_secret_prefix)) return std::nullopt;
    const std::string_view encoded = secret.substr(k_secret_prefix.size());
    std::string key(encoded.size(), '\0');
    std::size_t length = 0;
    if (encoded.empty() ||
        sodium_base642bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), encoded.data(),
                          encoded.size(), nullptr, &length, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        length == 0)
        return std::nullopt;
    key.resize(length);
    return key;
}

std::string sign(std::string_view key, std::string_view id, std::int64_t timestamp,
                 std::string_view body) {
    std::string signed_content;
    signed_content.reserve(id.size() + body.size() + 24);
    signed_content.append(id)
        .append(".")
        .append(std::to_string(timestamp))
        .append(".")
        .append(body);
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_length = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(),
              mac.data(), &mac_length))
        throw std::runtime_error("HMAC-SHA256 failed");
    return "v1," + to_base64(mac.data(), mac_length);
}

}  // namespace smarthost::events
