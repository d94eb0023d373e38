#pragma once
// The SASL pieces of SMTP AUTH (RFC 4954): base64 responses, the PLAIN message (RFC 4616)
// and the LOGIN prompts.

#include <optional>
#include <string>
#include <string_view>

namespace smarthost::smtp {

// Strict base64 (RFC 4648 section 4): padding required, no whitespace, no other alphabet.
// "=" alone is the empty response of RFC 4954 section 4.
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view octets);

struct PlainCredentials {
    std::string authzid;
    std::string authcid;
    std::string password;
};

// message = [authzid] NUL authcid NUL passwd, with non-empty authcid and passwd.
std::optional<PlainCredentials> decode_plain(std::string_view message);

inline constexpr std::string_view k_login_username_prompt = "VXNlcm5hbWU6";  // "Username:"
inline constexpr std::string_view k_login_password_prompt = "UGFzc3dvcmQ6";  // "Password:"

}  // namespace smarthost::smtp
