#pragma once
// What a DNS lookup returns, as plain values: the Resolver (resolver.hpp) produces them,
// the pure planning (mx_plan.hpp) reads them without linking the resolver.

#include <cstdint>
#include <string>
#include <vector>

namespace smarthost::dns {

// What the DNS said. `temporary` covers SERVFAIL, REFUSED and other rcodes (a resolver
// that could not get an answer); `timeout` is our own deadline passing.
enum class AnswerStatus { ok, nxdomain, nodata, temporary, timeout };

template <class Record>
struct Answer {
    AnswerStatus status = AnswerStatus::temporary;
    std::vector<Record> records;  // empty unless status == ok
    std::uint32_t ttl_seconds = 0;
    int rcode = 0;  // the DNS RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...)
};

struct MxRecord {
    std::uint16_t preference = 0;
    std::string exchange;  // without the trailing dot; the root (null MX) is "."
    bool operator==(const MxRecord&) const = default;
};

using MxAnswer = Answer<MxRecord>;
using AddressAnswer = Answer<std::string>;  // textual IPv4 / IPv6 addresses
using TxtAnswer = Answer<std::string>;      // one string per record, its parts concatenated
using RawAnswer = Answer<std::string>;      // rdata bytes in wire format

}  // namespace smarthost::dns
