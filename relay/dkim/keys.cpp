#include "relay/dkim/keys.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <ctime>

#include "core/ascii.hpp"

namespace smarthost::dkim {

struct PrivateKey::Handle {
    explicit Handle(EVP_PKEY* key) : pkey(key) {}
    ~Handle() { EVP_PKEY_free(pkey); }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    EVP_PKEY* pkey;
};

namespace {

using Handle = PrivateKey::Handle;

constexpr unsigned k_generated_rsa_bits = 2048;
constexpr unsigned k_min_rsa_bits = 1024;  // RFC 8301 section 3.2
constexpr unsigned k_max_rsa_bits = 4096;  // larger keys cost signing time for nothing
constexpr std::size_t k_ed25519_public_key_bytes = 32;

std::string openssl_error(std::string_view what) {
    std::string message(what);
    if (const auto code = ERR_get_error(); code != 0) {
        std::array<char, 256> text{};
        ERR_error_string_n(code, text.data(), text.size());
        message += ": ";
        message += text.data();
    }
    ERR_clear_error();
    return message;
}

struct BioDeleter {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct MdContextDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using MdContextPtr = std::unique_ptr<EVP_MD_CTX, MdContextDeleter>;

std::optional<Algorithm> algorithm_of(const EVP_PKEY* key) {
    switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_RSA:
            return Algorithm::rsa_sha256;
        case EVP_PKEY_ED25519:
            return Algorithm::ed25519_sha256;
        default:
            return std::nullopt;
    }
}

// What is signed and verified: the data itself with SHA-256 inside RSA's signature, or
// SHA-256(data) given to PureEdDSA (RFC 8463 section 3).
std::string digest_input(Algorithm algorithm, std::string_view data) {
    if (algorithm == Algorithm::rsa_sha256) return std::string(data);
    std::string digest(SHA256_DIGEST_LENGTH, '\0');
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           reinterpret_cast<unsigned char*>(digest.data()));
    return digest;
}

const EVP_MD* message_digest(Algorithm algorithm) {
    return algorithm == Algorithm::rsa_sha256 ? EVP_sha256() : nullptr;
}

// A callback that refuses to ask for a passphrase: encrypted PEM is not imported.
int no_passphrase(char*, int, int, void*) {
    return -1;
}

}  // namespace

PrivateKey::PrivateKey(std::shared_ptr<Handle> handle, Algorithm algorithm, unsigned bits)
    : handle_(std::move(handle)), algorithm_(algorithm), bits_(bits) {}

Result<PrivateKey> PrivateKey::generate(Algorithm algorithm) {
    EVP_PKEY* key = algorithm == Algorithm::rsa_sha256
                        ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                                            static_cast<std::size_t>(k_generated_rsa_bits))
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (key == nullptr) return Error{openssl_error("key generation failed"), {}};
    auto handle = std::make_shared<Handle>(key);
    return PrivateKey(handle, algorithm, static_cast<unsigned>(EVP_PKEY_get_bits(key)));
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
    if (pem.find("ENCRYPTED") != std::string_view::npos)
        return Error{"the private key is encrypted; import it decrypted (PKCS#8 or PKCS#1 PEM)",
                     {}};
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return Error{openssl_error("cannot read the key"), {}};
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
    if (key == nullptr)
        return Error{openssl_error("not a PEM private key (PKCS#8 PRIVATE KEY or RSA PRIVATE KEY)"),
                     {}};
    auto handle = std::make_shared<Handle>(key);
    const auto algorithm = algorithm_of(key);
    if (!algorithm) return Error{"the key is neither RSA nor Ed25519", {}};
    const auto bits = static_cast<unsigned>(EVP_PKEY_get_bits(key));
    if (*algorithm == Algorithm::rsa_sha256 && (bits < k_min_rsa_bits || bits > k_max_rsa_bits))
        return Error{"an RSA key of " + std::to_string(bits) + " bits; DKIM keys have " +
                         std::to_string(k_min_rsa_bits) + " to " + std::to_string(k_max_rsa_bits) +
                         " (2048 recommended)",
                     {}};
    return PrivateKey(handle, *algorithm, bits);
}

std::string PrivateKey::pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), handle_->pkey, nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
        ERR_clear_error();
        return {};
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    std::string pem(data, static_cast<std::size_t>(size));
    return pem;
}

std::string PrivateKey::public_key_base64() const {
    if (algorithm_ == Algorithm::ed25519_sha256) {
        std::string raw(k_ed25519_public_key_bytes, '\0');
        std::size_t size = raw.size();
        if (EVP_PKEY_get_raw_public_key(handle_->pkey, reinterpret_cast<unsigned char*>(raw.data()),
                                        &size) != 1) {
            ERR_clear_error();
            return {};
        }
        raw.resize(size);
        return base64_encode(raw);
    }
    unsigned char* der = nullptr;
    const int size = i2d_PUBKEY(handle_->pkey, &der);
    if (size <= 0) {
        ERR_clear_error();
        return {};
    }
    std::string encoded = base64_encode(
        std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size)));
    OPENSSL_free(der);
    return encoded;
}

Result<std::string> PrivateKey::sign(std::string_view data) const {
    const auto input = digest_input(algorithm_, data);
    MdContextPtr context(EVP_MD_CTX_new());
    if (!context || EVP_DigestSignInit(context.get(), nullptr, message_digest(algorithm_), nullptr,
                                       handle_->pkey) != 1)
        return Error{openssl_error("cannot start signing"), {}};
    std::size_t size = 0;
    const auto* bytes = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSign(context.get(), nullptr, &size, bytes, input.size()) != 1)
        return Error{openssl_error("cannot size the signature"), {}};
    std::string signature(size, '\0');
    if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                       bytes, input.size()) != 1)
        return Error{openssl_error("signing failed"), {}};
    signature.resize(size);
    return signature;
}

PublicKey::PublicKey(std::shared_ptr<PrivateKey::Handle> handle, Algorithm algorithm)
    : handle_(std::move(handle)), algorithm_(algorithm) {}

Result<PublicKey> PublicKey::from_base64(Algorithm algorithm, std::string_view p) {
    const auto raw = base64_decode(p);
    if (!raw || raw->empty()) return Error{"the key record's p= is empty or not base64", {}};
    const auto* bytes = reinterpret_cast<const unsigned char*>(raw->data());
    EVP_PKEY* key = nullptr;
    if (algorithm == Algorithm::ed25519_sha256) {
        if (raw->size() != k_ed25519_public_key_bytes)
            return Error{"an Ed25519 key record's p= is not 32 octets", {}};
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes, raw->size());
    } else {
        const unsigned char* cursor = bytes;
        key = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(raw->size()));
        if (key == nullptr) {  // some publish the bare RSAPublicKey (PKCS#1)
            ERR_clear_error();
            cursor = bytes;
            key = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &cursor, static_cast<long>(raw->size()));
        }
    }
    if (key == nullptr) return Error{openssl_error("the key record's p= is not a public key"), {}};
    auto handle = std::make_shared<PrivateKey::Handle>(key);
    if (algorithm_of(key) != algorithm) return Error{"the key record's key is of another type", {}};
    return PublicKey(handle, algorithm);
}

Result<PublicKey> PublicKey::from_record(std::string_view record) {
    const auto tags = parse_tag_list(record);
    if (!tags) return Error{"the key record is not a tag list", {}};
    Algorithm algorithm = Algorithm::rsa_sha256;
    std::optional<std::string> p;
    for (std::size_t i = 0; i < tags->size(); ++i) {
        const auto& tag = (*tags)[i];
        if (tag.name == "v" && (i != 0 || tag.value != "DKIM1"))
            return Error{"the key record's v= is not DKIM1 first", {}};
        if (tag.name == "k") {
            if (iequals(tag.value, "rsa")) {
                algorithm = Algorithm::rsa_sha256;
            } else if (iequals(tag.value, "ed25519")) {
                algorithm = Algorithm::ed25519_sha256;
            } else {
                return Error{"the key record's k= is neither rsa nor ed25519", {}};
            }
        }
        if (tag.name == "p") p = tag.value;
    }
    if (!p) return Error{"the key record has no p=", {}};
    if (p->empty()) return Error{"the key record's p= is empty: the key is revoked", {}};
    return from_base64(algorithm, *p);
}

bool PublicKey::verifies(std::string_view data, std::string_view signature) const {
    const auto input = digest_input(algorithm_, data);
    MdContextPtr context(EVP_MD_CTX_new());
    if (!context || EVP_DigestVerifyInit(context.get(), nullptr, message_digest(algorithm_),
                                         nullptr, handle_->pkey) != 1) {
        ERR_clear_error();
        return false;
    }
    const bool valid =
        EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                         input.size()) == 1;
    ERR_clear_error();
    return valid;
}

std::string key_record_text(Algorithm algorithm, std::string_view public_key_base64) {
    std::string text = "v=DKIM1; k=";
    text += key_type(algorithm);
    text += "; p=";
    text += public_key_base64;
    return text;
}

std::vector<std::string> character_strings(std::string_view text) {
    constexpr std::size_t k_max_string = 255;
    std::vector<std::string> strings;
    while (!text.empty()) {
        const auto take = std::min(text.size(), k_max_string);
        strings.emplace_back(text.substr(0, take));
        text.remove_prefix(take);
    }
    return strings;
}

std::string key_record_name(std::string_view selector, std::string_view domain) {
    std::string name(selector);
    name += "._domainkey.";
    name += domain;
    return name;
}

std::string default_selector(std::chrono::system_clock::time_point now) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    return "sh" + std::to_string(utc.tm_year + 1900) + "q" + std::to_string(utc.tm_mon / 3 + 1);
}

bool valid_selector(std::string_view selector) {
    constexpr std::size_t k_max_selector = 63;
    if (selector.empty() || selector.size() > k_max_selector) return false;
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= selector.size(); ++i) {
        if (i == selector.size() || selector[i] == '.') {
            const auto label = selector.substr(label_start, i - label_start);
            if (label.empty() || label.front() == '-' || label.back() == '-') return false;
            label_start = i + 1;
            continue;
        }
        const char c = selector[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

std::string base64_encode(std::string_view data) {
    std::string encoded(sodium_base64_encoded_len(data.size(), sodium_base64_VARIANT_ORIGINAL),
                        '\0');
    sodium_bin2base64(encoded.data(), encoded.size(),
                      reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    encoded.resize(encoded.size() - 1);  // the terminating NUL
    return encoded;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string decoded(text.size() / 4 * 3 + 3, '\0');
    std::size_t size = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                          text.data(), text.size(), " \t\r\n", &size, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text.data() + text.size())
        return std::nullopt;
    decoded.resize(size);
    return decoded;
}

}  // namespace smarthost::dkim
