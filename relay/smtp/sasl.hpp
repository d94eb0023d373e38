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

// Why a username or password can be no one's, decided before anything looks it up: a
// username with a control character (NUL would split the lockout key from the database
// key, which libpq reads up to the NUL) or that is not UTF-8 (the database would refuse
// it as an error, not as a wrong name); a password with NUL (RFC 4616 section 2: SAFE
// excludes it). Empty when both are fine.
std::string_view credential_defect(std::string_view username, std::string_view password);

inline constexpr std::string_view k_login_username_prompt = "VXNlcm5hbWU6";  // "Username:"
inline constexpr std::string_view k_login_password_prompt = "UGFzc3dvcmQ6";  // "Password:"

}  // namespace smarthost::smtp
