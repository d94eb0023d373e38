#pragma once
// The association data of TLSA records (RFC 6698 section 2.1) for a test's certificate,
// so tests can publish records that match the certificate a test server presents.

#include <string>

namespace smarthost::test {

// The DER bytes a TLSA selector names in a PEM certificate: selector 0 the whole
// certificate, 1 its SubjectPublicKeyInfo. Throws std::invalid_argument on bad PEM.
std::string tlsa_selected_der(const std::string& certificate_pem, int selector);
std::string sha256(const std::string& bytes);
std::string to_hex(const std::string& bytes);

}  // namespace smarthost::test
