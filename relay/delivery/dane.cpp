#include "relay/delivery/dane.hpp"

namespace smarthost::delivery {

namespace {

constexpr std::uint8_t k_usage_dane_ta = 2;
constexpr std::uint8_t k_usage_dane_ee = 3;
constexpr std::uint8_t k_selector_spki = 1;
constexpr std::uint8_t k_matching_full = 0;
constexpr std::uint8_t k_matching_sha256 = 1;
constexpr std::uint8_t k_matching_sha512 = 2;
constexpr std::size_t k_sha256_bytes = 32;
constexpr std::size_t k_sha512_bytes = 64;

DaneDecision defer(std::string_view name, std::string_view what) {
    DaneDecision decision;
    decision.kind = DaneDecision::Kind::defer;
    decision.reason = "DANE: the TLSA lookup of " + std::string(name) + " " + std::string(what) +
                      "; not delivering to this host without it";
    return decision;
}

}  // namespace

bool needs_tlsa_lookup(bool mx_secure, bool addresses_secure) {
    return mx_secure && addresses_secure;
}

std::string tlsa_name(std::string_view host, std::uint16_t port) {
    return "_" + std::to_string(port) + "._tcp." + std::string(host);
}

bool usable_for_smtp(const dns::TlsaRecord& record) {
    if (record.usage != k_usage_dane_ta && record.usage != k_usage_dane_ee) return false;
    if (record.selector > k_selector_spki) return false;
    switch (record.matching_type) {
        case k_matching_full:
            return !record.data.empty();
        case k_matching_sha256:
            return record.data.size() == k_sha256_bytes;
        case k_matching_sha512:
            return record.data.size() == k_sha512_bytes;
        default:
            return false;
    }
}

DaneDecision decide_dane(const Result<dns::TlsaAnswer>& answer, std::string_view name) {
    if (!answer) return defer(name, "failed (" + answer.error().message + ")");
    switch (answer->status) {
        case dns::AnswerStatus::timeout:
            return defer(name, "got no answer in time");
        case dns::AnswerStatus::temporary:
            // Bogus answers come as `temporary` too: an attacker's forgery must not be
            // taken for "no TLSA records" (RFC 7672 section 2.1.1).
            return defer(name, "failed (SERVFAIL or a bogus DNSSEC answer)");
        case dns::AnswerStatus::nxdomain:
        case dns::AnswerStatus::nodata:
            return DaneDecision{};
        case dns::AnswerStatus::ok:
            break;
    }
    // RFC 7672 section 2.2: an insecure TLSA RRset is as good as none.
    if (!answer->secure) return DaneDecision{};
    DaneDecision decision;
    for (const auto& record : answer->records) {
        if (decision.records.size() == k_max_tlsa_records) break;
        if (usable_for_smtp(record)) decision.records.push_back(record);
    }
    decision.kind = decision.records.empty() ? DaneDecision::Kind::unauthenticated
                                             : DaneDecision::Kind::authenticated;
    return decision;
}

}  // namespace smarthost::delivery
