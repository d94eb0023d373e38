#pragma once
// SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463, RFC 2034).
// Every reply the server sends is built by a function in smarthost::smtp::reply so that
// codes and texts are defined in one place.

#include <string>
#include <string_view>
#include <vector>

namespace smarthost::smtp {

struct Reply {
    int code = 250;
    std::string enhanced;            // "2.0.0"; empty where RFC 2034 does not use one (220, EHLO)
    std::vector<std::string> lines;  // one entry per reply line, without code or CRLF

    // The bytes on the wire: "250-first\r\n250 last\r\n", the enhanced code on every line.
    std::string wire() const;
    bool positive() const { return code < 400; }
};

}  // namespace smarthost::smtp
