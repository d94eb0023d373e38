#include "relay/dkim/signer.hpp"

#include <openssl/evp.h>

#include <memory>

#include "core/ascii.hpp"
#include "relay/smtp/message_headers.hpp"

namespace smarthost::dkim {
namespace {

struct MdContextDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

// base64(SHA-256(canonical body)), of at most `length` canonical octets when given.
std::optional<std::string> body_hash(std::string_view body, Canonicalization canonicalization,
                                     std::optional<std::uint64_t> length) {
    std::unique_ptr<EVP_MD_CTX, MdContextDeleter> context(EVP_MD_CTX_new());
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1)
        return std::nullopt;
    std::uint64_t remaining = length.value_or(UINT64_MAX);
    bool ok = true;
    canonicalize_body(body, canonicalization, [&](std::string_view piece) {
        const auto take =
            static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), remaining));
        remaining -= take;
        ok = ok && EVP_DigestUpdate(context.get(), piece.data(), take) == 1;
    });
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (!ok || EVP_DigestFinal_ex(context.get(), digest.data(), &size) != 1) return std::nullopt;
    // l= longer than the body itself: the signature claims octets that are not there.
    if (length && remaining > 0) return std::nullopt;
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

}  // namespace

Result<std::string> sign(std::string_view message, const std::vector<SigningKey>& keys,
                         const SigningOptions& options) {
    const auto split = body_offset(message);
    const auto header_section = message.substr(0, split);
    const auto hash = body_hash(message.substr(split), Canonicalization::relaxed, std::nullopt);
    if (!hash) return Error{"the body hash could not be computed", {}};
    SignatureTemplate signature;
    signature.signed_headers = headers_to_sign(header_section);
    signature.body_hash = *hash;
    signature.timestamp = unix_seconds(options.now);
    if (options.expiry) signature.expiration = signature.timestamp + options.expiry->count();
    const auto headers = canonical_signed_headers(header_section, signature.signed_headers,
                                                  Canonicalization::relaxed);
    std::string fields;
    for (const auto& key : keys) {
        signature.algorithm = key.key.algorithm();
        signature.domain = key.domain;
        signature.selector = key.selector;
        const auto value = signature_value_without_b(signature);
        auto signed_data = headers;
        signed_data +=
            canonical_signature_field("DKIM-Signature", value, Canonicalization::relaxed);
        const auto b = key.key.sign(signed_data);
        if (!b)
            return Error{"signing as " + key.selector + "._domainkey." + key.domain +
                             " failed: " + b.error().message,
                         {}};
        fields += signature_field(value, base64_encode(*b));
    }
    return fields;
}

std::vector<FoundSignature> signatures_in(std::string_view message) {
    std::vector<FoundSignature> found;
    smtp::HeaderFieldReader reader(message.substr(0, body_offset(message)));
    while (const auto field = reader.next()) {
        if (!iequals(field->name, "DKIM-Signature")) continue;
        if (auto signature = parse_signature(field->raw_value))
            found.push_back(FoundSignature{std::move(*signature), field->name, field->raw_value});
    }
    return found;
}

std::optional<std::size_t> already_signed_by(std::string_view message,
                                             const std::vector<SigningKey>& keys,
                                             std::chrono::system_clock::time_point now,
                                             std::size_t max_checked) {
    std::size_t checked = 0;
    for (const auto& found : signatures_in(message)) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const auto& key = keys[i];
            if (found.signature.domain != key.domain || found.signature.selector != key.selector)
                continue;
            if (checked++ >= max_checked) return std::nullopt;
            const auto published =
                PublicKey::from_base64(key.key.algorithm(), key.key.public_key_base64());
            if (published && verify(message, found, *published, now)) return i;
        }
    }
    return std::nullopt;
}

bool verify(std::string_view message, const FoundSignature& found, const PublicKey& key,
            std::chrono::system_clock::time_point now) {
    const auto& signature = found.signature;
    if (key.algorithm() != signature.algorithm) return false;
    if (signature.expiration && *signature.expiration < unix_seconds(now)) return false;
    const auto split = body_offset(message);
    const auto hash =
        body_hash(message.substr(split), signature.body_canonicalization, signature.body_length);
    if (!hash || *hash != signature.body_hash) return false;
    const auto raw = base64_decode(signature.signature);
    if (!raw) return false;
    auto signed_data = canonical_signed_headers(message.substr(0, split), signature.signed_headers,
                                                signature.header_canonicalization);
    signed_data +=
        canonical_signature_field(found.name, found.raw_value, signature.header_canonicalization);
    return key.verifies(signed_data, *raw);
}

}  // namespace smarthost::dkim
