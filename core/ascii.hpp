#pragma once
// ASCII case folding, the only kind mail needs: SMTP verbs and parameters, domain names,
// header field names and HTTP schemes are ASCII and case-insensitive (RFC 5321 section
// 2.4). Locale-free on purpose: std::tolower follows the C locale of the process.

#include <algorithm>
#include <string>
#include <string_view>

namespace smarthost {

constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr char ascii_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

inline std::string to_lower(std::string_view text) {
    std::string lowered(text);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), ascii_lower);
    return lowered;
}

inline std::string to_upper(std::string_view text) {
    std::string raised(text);
    std::transform(raised.begin(), raised.end(), raised.begin(), ascii_upper);
    return raised;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

constexpr bool istarts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

}  // namespace smarthost
