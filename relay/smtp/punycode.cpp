#include "relay/smtp/punycode.hpp"

#include <cstdint>
#include <limits>
#include <vector>

#include "relay/smtp/address.hpp"

namespace smarthost::smtp {
namespace {

// RFC 3492 section 5.
constexpr std::uint32_t k_base = 36;
constexpr std::uint32_t k_tmin = 1;
constexpr std::uint32_t k_tmax = 26;
constexpr std::uint32_t k_skew = 38;
constexpr std::uint32_t k_damp = 700;
constexpr std::uint32_t k_initial_bias = 72;
constexpr std::uint32_t k_initial_n = 128;
constexpr std::uint32_t k_max = std::numeric_limits<std::uint32_t>::max();

// Code points of text already checked by is_valid_utf8.
std::vector<std::uint32_t> code_points(std::string_view utf8) {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < utf8.size();) {
        const auto c = static_cast<unsigned char>(utf8[i]);
        const std::size_t length = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        std::uint32_t value = length == 1 ? c : c & (0x7F >> length);
        for (std::size_t k = 1; k < length; ++k)
            value = (value << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
        out.push_back(value);
        i += length;
    }
    return out;
}

char digit(std::uint32_t d) {
    return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

// Section 6.1.
std::uint32_t adapt(std::uint32_t delta, std::uint32_t points, bool first) {
    delta = first ? delta / k_damp : delta / 2;
    delta += delta / points;
    std::uint32_t k = 0;
    while (delta > ((k_base - k_tmin) * k_tmax) / 2) {
        delta /= k_base - k_tmin;
        k += k_base;
    }
    return k + (k_base - k_tmin + 1) * delta / (delta + k_skew);
}

}  // namespace

std::optional<std::string> punycode_encode(std::string_view utf8) {
    if (!is_valid_utf8(utf8)) return std::nullopt;
    const auto input = code_points(utf8);
    std::string output;
    for (const auto c : input)
        if (c < 0x80) output.push_back(static_cast<char>(c));
    const auto basic = static_cast<std::uint32_t>(output.size());
    if (basic > 0) output.push_back('-');

    // Section 6.3.
    std::uint32_t n = k_initial_n;
    std::uint32_t delta = 0;
    std::uint32_t bias = k_initial_bias;
    for (std::uint32_t handled = basic; handled < input.size();) {
        std::uint32_t m = k_max;
        for (const auto c : input)
            if (c >= n && c < m) m = c;
        if (m - n > (k_max - delta) / (handled + 1)) return std::nullopt;
        delta += (m - n) * (handled + 1);
        n = m;
        for (const auto c : input) {
            if (c < n && ++delta == 0) return std::nullopt;
            if (c != n) continue;
            std::uint32_t q = delta;
            for (std::uint32_t k = k_base;; k += k_base) {
                const std::uint32_t t = k <= bias ? k_tmin : k >= bias + k_tmax ? k_tmax : k - bias;
                if (q < t) break;
                output.push_back(digit(t + (q - t) % (k_base - t)));
                q = (q - t) / (k_base - t);
            }
            output.push_back(digit(q));
            bias = adapt(delta, handled + 1, handled == basic);
            delta = 0;
            ++handled;
        }
        ++delta;
        ++n;
    }
    return output;
}

}  // namespace smarthost::smtp
