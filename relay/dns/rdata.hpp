#pragma once
// Decoding of resource record data (RFC 1035 3.3, RFC 3596) from wire format into the
// values the rest of smarthost uses. Pure: no I/O.

#include <optional>
#include <string>
#include <string_view>

#include "relay/dns/answers.hpp"

namespace smarthost::dns::rdata {

// Each returns nullopt when the rdata is malformed (wrong length, a label running past
// the end, a compression pointer: rdata from libunbound is already uncompressed).
std::optional<std::string> parse_a(std::string_view rdata);
std::optional<std::string> parse_aaaa(std::string_view rdata);
std::optional<MxRecord> parse_mx(std::string_view rdata);
std::optional<std::string> parse_txt(std::string_view rdata);  // character-strings joined
// RFC 6698 section 2.1: usage, selector, matching type (one octet each), then the data.
// Any values are kept, even an association of the wrong size: whether a record is usable
// is the DANE decision's (relay/delivery/dane.hpp), and one odd record must not make the
// whole RRset unreadable.
std::optional<TlsaRecord> parse_tlsa(std::string_view rdata);

// A wire-format domain name filling all of `wire`, in presentation form without the
// trailing dot ("mx.example.com"; the root is "."). Bytes that are not letters, digits,
// '-' or '_' are escaped as \DDD (RFC 1035 5.1), so a hostile name cannot smuggle a '.'.
std::optional<std::string> name_to_text(std::string_view wire);

}  // namespace smarthost::dns::rdata
