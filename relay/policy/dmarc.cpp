#include "relay/policy/dmarc.hpp"

#include "core/ascii.hpp"
#include "relay/dkim/signature_fields.hpp"
#include "relay/policy/blanks.hpp"
#include "relay/policy/public_suffixes.hpp"

namespace smarthost::policy {
namespace {

std::optional<DmarcPolicy> policy_of(std::string_view value) {
    if (iequals(value, "none")) return DmarcPolicy::none;
    if (iequals(value, "quarantine")) return DmarcPolicy::quarantine;
    if (iequals(value, "reject")) return DmarcPolicy::reject;
    return std::nullopt;
}

std::optional<Alignment> alignment_of(std::string_view value) {
    if (iequals(value, "r")) return Alignment::relaxed;
    if (iequals(value, "s")) return Alignment::strict;
    return std::nullopt;
}

std::optional<int> percent_of(std::string_view value) {
    if (value.empty() || value.size() > 3) return std::nullopt;
    int percent = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        percent = percent * 10 + (c - '0');
    }
    if (percent > 100) return std::nullopt;
    return percent;
}

// rua=mailto:a@example.com!10m,mailto:b@example.net: each a URI with a scheme (6.4).
std::optional<std::vector<std::string>> uris_of(std::string_view value) {
    std::vector<std::string> uris;
    std::size_t start = 0;
    while (start <= value.size()) {
        const auto end = std::min(value.find(',', start), value.size());
        const auto uri = trim_blanks(value.substr(start, end - start));
        start = end + 1;
        const auto colon = uri.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == uri.size())
            return std::nullopt;
        uris.emplace_back(uri);
    }
    return uris;
}

}  // namespace

const char* to_string(DmarcPolicy policy) {
    switch (policy) {
        case DmarcPolicy::quarantine:
            return "quarantine";
        case DmarcPolicy::reject:
            return "reject";
        case DmarcPolicy::none:
            break;
    }
    return "none";
}

const char* to_string(Alignment alignment) {
    return alignment == Alignment::strict ? "strict" : "relaxed";
}

bool is_dmarc_record(std::string_view text) {
    const auto tags = dkim::parse_tag_list(text);
    return tags && !tags->empty() && iequals(tags->front().name, "v") &&
           tags->front().value == "DMARC1";
}

DmarcParse parse_dmarc(std::string_view text) {
    const auto tags = dkim::parse_tag_list(text);
    if (!tags) return {std::nullopt, "the record is not a list of tag=value pairs"};
    if (tags->empty() || !iequals(tags->front().name, "v") || tags->front().value != "DMARC1")
        return {std::nullopt, "the record does not start with v=DMARC1"};
    DmarcRecord record;
    std::string error;
    const auto note = [&error](std::string problem) {
        if (error.empty()) error = std::move(problem);
    };
    bool policy_seen = false;
    bool policy_valid = false;
    bool subdomain_policy_valid = true;
    for (std::size_t i = 1; i < tags->size(); ++i) {
        const auto name = to_lower((*tags)[i].name);
        const auto value = (*tags)[i].value;
        if (name == "p") {
            policy_seen = true;
            // Section 6.3: p= follows v= directly.
            if (i != 1) note("p= must come right after v=DMARC1");
            if (auto policy = policy_of(value)) {
                record.policy = *policy;
                policy_valid = i == 1;
            } else {
                note("p=" + std::string(value) + " is not none, quarantine or reject");
            }
        } else if (name == "sp") {
            record.subdomain_policy = policy_of(value);
            if (!record.subdomain_policy) {
                subdomain_policy_valid = false;
                note("sp=" + std::string(value) + " is not none, quarantine or reject");
            }
        } else if (name == "adkim" || name == "aspf") {
            auto alignment = alignment_of(value);
            if (!alignment) {
                note(name + "=" + std::string(value) + " is not r or s");
                continue;
            }
            (name == "adkim" ? record.dkim_alignment : record.spf_alignment) = *alignment;
        } else if (name == "pct") {
            auto percent = percent_of(value);
            if (!percent) {
                note("pct=" + std::string(value) + " is not a number from 0 to 100");
                continue;
            }
            record.percent = *percent;
        } else if (name == "rua") {
            auto uris = uris_of(value);
            if (!uris) {
                note("rua=" + std::string(value) + " is not a list of URIs");
                continue;
            }
            record.rua = std::move(*uris);
        }
    }
    if (!policy_seen) note("the record has no p= tag");
    if (policy_valid && subdomain_policy_valid) return {std::move(record), std::move(error)};
    // Section 6.6.3: a bad p= or sp= with a usable rua= counts as p=none; without, as no
    // record at all.
    if (record.rua.empty()) return {std::nullopt, std::move(error)};
    record.policy = DmarcPolicy::none;
    record.subdomain_policy.reset();
    record.policy_defaulted = true;
    return {std::move(record), std::move(error)};
}

std::string dmarc_record_name(std::string_view domain) {
    return "_dmarc." + std::string(domain);
}

bool aligned(std::string_view authenticated_domain, std::string_view from_domain,
             Alignment alignment, const PublicSuffixList& suffixes) {
    if (iequals(authenticated_domain, from_domain)) return true;
    if (alignment == Alignment::strict) return false;
    return suffixes.organizational_domain(authenticated_domain) ==
           suffixes.organizational_domain(from_domain);
}

}  // namespace smarthost::policy
