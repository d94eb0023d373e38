#include "relay/smtp/sasl.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace smarthost::smtp {

namespace {

constexpr std::string_view k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_decode_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& entry : table)
        entry = -1;
    for (std::size_t i = 0; i < k_alphabet.size(); ++i) {
        table[static_cast<unsigned char>(k_alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}

constexpr auto k_decode = make_decode_table();

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        std::uint32_t code = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            code = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            code = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            code = lead & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) return false;
            code = (code << 6) | (next & 0x3F);
        }
        if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) ||
            (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF)
            return false;
        i += length;
    }
    return true;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
    if (text == "=") return std::string();
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        int padding = 0;
        std::uint32_t group = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            char c = text[i + k];
            std::int8_t value = k_decode[static_cast<unsigned char>(c)];
            if (c == '=' && last && k >= 2) {
                ++padding;
                value = 0;
            } else if (value < 0 || padding > 0) {
                return std::nullopt;  // bad octet, or data after padding
            }
            group = (group << 6) | static_cast<std::uint32_t>(value);
        }
        // Canonical encoding only: the bits the padding hides must be zero.
        if ((padding == 1 && (group & 0xFF) != 0) || (padding == 2 && (group & 0xFFFF) != 0)) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>((group >> 16) & 0xFF));
        if (padding < 2) out.push_back(static_cast<char>((group >> 8) & 0xFF));
        if (padding < 1) out.push_back(static_cast<char>(group & 0xFF));
    }
    return out;
}

std::string encode_base64(std::string_view octets) {
    std::string out;
    out.reserve((octets.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < octets.size(); i += 3) {
        std::size_t count = std::min<std::size_t>(3, octets.size() - i);
        std::uint32_t group = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            group <<= 8;
            if (k < count) group |= static_cast<unsigned char>(octets[i + k]);
        }
        for (std::size_t k = 0; k < 4; ++k) {
            out.push_back(k <= count ? k_alphabet[(group >> (18 - 6 * k)) & 0x3F] : '=');
        }
    }
    return out;
}

std::optional<PlainCredentials> decode_plain(std::string_view message) {
    auto first = message.find('\0');
    if (first == std::string_view::npos) return std::nullopt;
    auto second = message.find('\0', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    if (message.find('\0', second + 1) != std::string_view::npos) return std::nullopt;
    PlainCredentials credentials{std::string(message.substr(0, first)),
                                 std::string(message.substr(first + 1, second - first - 1)),
                                 std::string(message.substr(second + 1))};
    if (credentials.authcid.empty() || credentials.password.empty()) return std::nullopt;
    return credentials;
}

std::string_view credential_defect(std::string_view username, std::string_view password) {
    for (const char c : username) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet < 0x20 || octet == 0x7F) return "Username contains a control character";
    }
    if (!valid_utf8(username)) return "Username is not valid UTF-8";
    if (password.find('\0') != std::string_view::npos) return "Password contains NUL";
    return {};
}

}  // namespace smarthost::smtp
