#pragma once
// DKIM canonicalization (RFC 6376 section 3.4): how a header field and the body are
// rewritten before hashing, so that the changes mail systems commonly make in transit
// (refolding, white space at line ends, trailing empty lines) do not break a signature.
// Pure.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace smarthost::dkim {

enum class Canonicalization { simple, relaxed };
const char* to_string(Canonicalization canonicalization);
std::optional<Canonicalization> parse_canonicalization(std::string_view text);

// One header field as it goes into the header hash, with its CRLF. `name` and
// `raw_value` are as smtp::HeaderFieldReader gives them (the value after the colon,
// folding included). relaxed: the name lower-cased, the value unfolded, every run of
// white space made one space, white space at the start and the end removed, "name:value".
// simple: the field unchanged, as `raw_field` holds it.
std::string canonical_header(std::string_view name, std::string_view raw_value,
                             std::string_view raw_field, Canonicalization canonicalization);

// Feeds the canonical body to `sink` piece by piece, so a large body is hashed without a
// second copy of it. `body` is everything after the empty line that ends the header
// section. relaxed: white space at line ends removed, runs of white space made one
// space; both: empty lines at the end removed, and a body that does not end in CRLF gets
// one. An empty body is "" in relaxed and CRLF in simple (RFC 6376 section 3.4.3-3.4.4).
void canonicalize_body(std::string_view body, Canonicalization canonicalization,
                       const std::function<void(std::string_view)>& sink);

// The same, as one string (for tests and small bodies).
std::string canonical_body(std::string_view body, Canonicalization canonicalization);

// Where the body starts in `message` (after the first CRLF CRLF, or the first CRLF when the
// message starts with it); message.size() when there is no body.
std::size_t body_offset(std::string_view message);

}  // namespace smarthost::dkim
