#pragma once
// SPF (RFC 7208): the record's syntax, and check_host() over DNS answers given as
// DnsFacts. Pure. Used by the domain health check to tell whether a customer's record
// lets the relay's outbound addresses send for the domain.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/network.hpp"
#include "relay/policy/dns_facts.hpp"

namespace smarthost::policy {

// RFC 7208 section 2.6; `unknown` is ours: the answer depends on what the health check
// cannot know (a ptr mechanism, a macro naming the client) or on DNS answers not given.
enum class SpfResult { none, neutral, pass, fail, softfail, temperror, permerror, unknown };
const char* to_string(SpfResult result);

struct SpfTerm {
    enum class Kind { all, include, a, mx, ptr, ip4, ip6, exists };
    Kind kind = Kind::all;
    SpfResult qualifier = SpfResult::pass;  // + pass, - fail, ~ softfail, ? neutral
    std::string domain;                     // domain-spec as written; empty: <domain>
    std::optional<Network> network;         // ip4, ip6
    int ipv4_prefix = 32;                   // a, mx (dual-cidr-length)
    int ipv6_prefix = 128;
};

struct SpfRecord {
    std::vector<SpfTerm> terms;
    std::optional<std::string> redirect;  // redirect= (section 6.1)
};

// Whether a TXT record is an SPF record: "v=spf1" alone or followed by a space (4.5).
bool is_spf_record(std::string_view text);

struct SpfParse {
    std::optional<SpfRecord> record;
    std::string error;  // why not, when there is no record
};
// The whole record, "v=spf1" included. A syntax error, an unknown mechanism, a repeated
// redirect= or exp=, a bad CIDR length is an error (permerror, section 4.6).
SpfParse parse_spf(std::string_view text);

// RFC 7208 section 4.6.4: at most 10 terms that cause DNS lookups, at most 2 of them
// coming back empty.
inline constexpr int k_spf_dns_term_limit = 10;
inline constexpr int k_spf_void_lookup_limit = 2;
inline constexpr std::size_t k_spf_mx_limit = 10;

struct SpfEvaluation {
    SpfResult result = SpfResult::none;
    std::string reason;                  // for permerror, temperror and unknown
    bool lookup_limit_exceeded = false;  // permerror through section 4.6.4
    bool used_include_name = false;      // matched through the trusted include name
    int dns_terms = 0;
    std::vector<DnsQuestion> missing;  // asked for and not in the facts (result: unknown)
};

struct SpfQuery {
    std::string domain;             // whose record is evaluated (the MAIL FROM domain)
    std::optional<Network> client;  // the address sending; none: only includes can pass
    // A name operators publish for the relay (an include target "_spf.relay.example"):
    // include:/redirect= to it passes without looking into it.
    std::string trusted_include;
};

// check_host() (section 4) over the given answers.
SpfEvaluation evaluate_spf(const SpfQuery& query, const DnsFacts& facts);

}  // namespace smarthost::policy
