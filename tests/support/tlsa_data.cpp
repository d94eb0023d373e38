#include "tests/support/tlsa_data.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>

namespace smarthost::test {

std::string tlsa_selected_der(const std::string& certificate_pem, int selector) {
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())),
        &BIO_free);
    const std::unique_ptr<X509, decltype(&X509_free)> certificate(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!certificate) throw std::invalid_argument("not a PEM certificate");
    unsigned char* der = nullptr;
    const int size = selector == 0 ? i2d_X509(certificate.get(), &der)
                                   : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate.get()), &der);
    if (size <= 0) throw std::invalid_argument("cannot encode the certificate");
    std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
    OPENSSL_free(der);
    return bytes;
}

std::string sha256(const std::string& bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string to_hex(const std::string& bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string hex;
    for (const char byte : bytes) {
        const auto value = static_cast<unsigned char>(byte);
        hex += k_digits[value >> 4];
        hex += k_digits[value & 0x0f];
    }
    return hex;
}

}  // namespace smarthost::test
