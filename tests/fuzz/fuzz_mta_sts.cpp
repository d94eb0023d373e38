// Arbitrary bytes as an MTA-STS policy file (what an HTTPS server anywhere may answer) and
// as TXT records of _mta-sts (relay/delivery/mta_sts). Invariants: no crash; a parsed
// policy has at most k_max_mx_patterns lower-case patterns, each matching a host made from
// it, a max_age within the RFC's bound, and mx patterns unless its mode is none; an id is
// 1..32 letters and digits.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "relay/delivery/mta_sts.hpp"

namespace {

namespace sts = smarthost::delivery::mta_sts;

void check(bool condition) {
    if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto policy = sts::parse_policy(input);
    if (policy) {
        check(policy->mx.size() <= sts::k_max_mx_patterns);
        check(policy->max_age_seconds <= sts::k_max_age_limit_seconds);
        check(policy->mode == sts::Mode::none || !policy->mx.empty());
        for (const auto& pattern : policy->mx) {
            check(std::none_of(pattern.begin(), pattern.end(),
                               [](char c) { return c >= 'A' && c <= 'Z'; }));
            const std::string host = pattern.starts_with("*.") ? "x" + pattern.substr(1) : pattern;
            check(sts::mx_matches(pattern, host));
            check(sts::decide_host(*policy, "example.org", host).verdict != sts::HostVerdict::skip);
        }
    }
    // The same bytes as TXT records, split at NUL.
    std::vector<std::string> records;
    std::string_view rest = input;
    while (!rest.empty()) {
        const auto nul = rest.find('\0');
        records.emplace_back(rest.substr(0, nul));
        rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
    }
    const auto id = sts::policy_id(records);
    if (id) {
        check(!id->empty() && id->size() <= sts::k_max_id_length);
        check(std::all_of(id->begin(), id->end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        }));
    }
    return 0;
}
