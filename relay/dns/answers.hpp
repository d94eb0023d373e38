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
    // DNSSEC-validated (RFC 4033 "secure"), for an answer or a denial. Only with a trust
    // anchor configured; bogus answers are never secure, they come as `temporary`.
    bool secure = false;
};

struct MxRecord {
    std::uint16_t preference = 0;
    std::string exchange;  // without the trailing dot; the root (null MX) is "."
    bool operator==(const MxRecord&) const = default;
};

// RFC 6698 section 2.1: one TLSA record. `data` is the certificate association data as
// raw bytes (a digest for matching types 1 and 2, the whole object for 0).
struct TlsaRecord {
    std::uint8_t usage = 0;          // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
    std::uint8_t selector = 0;       // 0 full certificate, 1 SubjectPublicKeyInfo
    std::uint8_t matching_type = 0;  // 0 exact, 1 SHA2-256, 2 SHA2-512
    std::string data;
    bool operator==(const TlsaRecord&) const = default;
};

using MxAnswer = Answer<MxRecord>;
using AddressAnswer = Answer<std::string>;  // textual IPv4 / IPv6 addresses
using TxtAnswer = Answer<std::string>;      // one string per record, its parts concatenated
using RawAnswer = Answer<std::string>;      // rdata bytes in wire format
using TlsaAnswer = Answer<TlsaRecord>;

}  // namespace smarthost::dns
