#pragma once
// Punycode (RFC 3492): the ASCII form of a Unicode label, which IDNA writes as an A-label
// "xn--<punycode>" (RFC 5890 section 2.3.2.1). Only the encoding; no IDNA mapping or
// normalisation (that needs Unicode tables: see canonical_address in address.hpp).

#include <optional>
#include <string>
#include <string_view>

namespace smarthost::smtp {

// The Punycode of well-formed UTF-8 text, case kept ("bücher" → "bcher-kva"); nullopt
// for malformed UTF-8 or an arithmetic overflow (RFC 3492 section 6.4).
std::optional<std::string> punycode_encode(std::string_view utf8);

}  // namespace smarthost::smtp
