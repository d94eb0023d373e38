// [dkim] (docs/configuration.md): the key-encryption key, the signature expiry and the
// interval of the published-record check.

#include <sodium.h>

#include <array>

#include "core/config_section.hpp"

namespace smarthost::config_file {

void read_dkim(const toml::table& table, const std::filesystem::path& file, DkimSettings& d) {
    Section s(table, "dkim", file);
    s.read("key_encryption_key", d.key_encryption_key);
    s.read_duration("signature_expiry_seconds", d.signature_expiry, 0, 366 * 86400);
    s.read_duration("check_interval_seconds", d.check_interval, 60, 7 * 86400);
    s.reject_unknown();
}

void check_key_encryption_key(const DkimSettings& d, const std::filesystem::path& file) {
    if (d.key_encryption_key.empty()) return;
    std::array<unsigned char, 33> key{};  // one spare octet: a longer key must not fit
    std::size_t length = 0;
    const bool decoded = sodium_base642bin(key.data(), key.size(), d.key_encryption_key.data(),
                                           d.key_encryption_key.size(), " \t\r\n", &length, nullptr,
                                           sodium_base64_VARIANT_ORIGINAL) == 0;
    sodium_memzero(key.data(), key.size());
    // The message names the key, never its value: start-up errors are logged.
    if (!decoded || length != 32)
        throw ConfigError(fmt::format(
            "{}: dkim.key_encryption_key (or SMARTHOST_DKIM_KEK) must be the base64 of 32 "
            "octets (`openssl rand -base64 32`)",
            file.string()));
}

}  // namespace smarthost::config_file
