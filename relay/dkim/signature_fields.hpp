#pragma once
// The DKIM-Signature header field (RFC 6376 section 3.5): its tag list read and written,
// and which header fields a signature covers. Pure.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/dkim/canonicalization.hpp"

namespace smarthost::dkim {

enum class Algorithm { rsa_sha256, ed25519_sha256 };
const char* to_string(Algorithm algorithm);  // "rsa-sha256", "ed25519-sha256"
std::optional<Algorithm> parse_algorithm(std::string_view text);
const char* key_type(Algorithm algorithm);  // the k= of the key record: "rsa", "ed25519"

struct Tag {
    std::string name;
    std::string value;  // white space inside removed only where the tag's syntax allows it
};
// "v=1; a=rsa-sha256; ..." into its tags, in order, names and values without the white
// space around them; empty parts are skipped. nullopt when it is not a tag list (a part
// without '=', an empty, malformed or duplicate name, no tag at all). DKIM signatures and
// key records (RFC 6376 section 3.2) and DMARC records (RFC 7489 section 6.4) share it.
std::optional<std::vector<Tag>> parse_tag_list(std::string_view text);

// The p= of a key record's text, white space removed ("" for a revoked key); nullopt when
// the text is no key record (not a tag list, no p=, or a v= that is not DKIM1 first).
std::optional<std::string> public_key_of_record(std::string_view record);

// A DKIM-Signature as read from a message.
struct Signature {
    Algorithm algorithm = Algorithm::rsa_sha256;
    Canonicalization header_canonicalization = Canonicalization::simple;
    Canonicalization body_canonicalization = Canonicalization::simple;
    std::string domain;                        // d=, lower case
    std::string selector;                      // s=
    std::vector<std::string> signed_headers;   // h=, as written
    std::string body_hash;                     // bh=, base64 without white space
    std::string signature;                     // b=, base64 without white space
    std::optional<std::uint64_t> body_length;  // l=
    std::optional<std::int64_t> timestamp;     // t=
    std::optional<std::int64_t> expiration;    // x=
};
// nullopt when the field is not a signature this relay can check (missing or malformed
// required tags, v= other than 1, an unknown algorithm or canonicalization).
std::optional<Signature> parse_signature(std::string_view raw_value);

// The header field names a new signature lists in h=, for the fields `header_section`
// holds: each of From, To, Cc, Subject, Date, Message-ID, Reply-To, MIME-Version,
// Content-Type, Content-Transfer-Encoding, List-Unsubscribe and List-Unsubscribe-Post once
// per occurrence, and From once more (over-signing: a From added later breaks the
// signature instead of being shown as the author).
std::vector<std::string> headers_to_sign(std::string_view header_section);

// The header hash input (RFC 6376 section 3.7) except the signature field itself: for each
// name in `signed_headers`, the last not-yet-used field of that name counting from the
// bottom, canonicalized; a name with no field left adds nothing.
std::string canonical_signed_headers(std::string_view header_section,
                                     const std::vector<std::string>& signed_headers,
                                     Canonicalization canonicalization);

// What a new signature says before b= is known.
struct SignatureTemplate {
    Algorithm algorithm = Algorithm::rsa_sha256;
    std::string domain;
    std::string selector;
    std::vector<std::string> signed_headers;
    std::string body_hash;  // base64
    std::int64_t timestamp = 0;
    std::optional<std::int64_t> expiration;
};
// "v=1; a=...; c=relaxed/relaxed; d=...; s=...; t=...; h=...; bh=...; b=" folded at about
// 76 columns with CRLF + TAB, without the field name: the value b= is appended to.
std::string signature_value_without_b(const SignatureTemplate& signature);
// The complete field with its CRLF: "DKIM-Signature: " + value + b folded.
std::string signature_field(std::string_view value_without_b, std::string_view b);

// The field as it enters the header hash: the signature field with an empty b=, canonical
// and without its final CRLF (RFC 6376 section 3.7, step 2).
std::string canonical_signature_field(std::string_view name, std::string_view raw_value,
                                      Canonicalization canonicalization);

}  // namespace smarthost::dkim
