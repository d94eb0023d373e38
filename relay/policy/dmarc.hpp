#pragma once
// DMARC (RFC 7489): the policy record's syntax and identifier alignment. Pure.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost::policy {

class PublicSuffixList;

enum class DmarcPolicy { none, quarantine, reject };
const char* to_string(DmarcPolicy policy);

enum class Alignment { relaxed, strict };
const char* to_string(Alignment alignment);

struct DmarcRecord {
    DmarcPolicy policy = DmarcPolicy::none;
    std::optional<DmarcPolicy> subdomain_policy;  // sp=
    Alignment dkim_alignment = Alignment::relaxed;
    Alignment spf_alignment = Alignment::relaxed;
    int percent = 100;              // pct=
    std::vector<std::string> rua;   // aggregate report URIs
    bool policy_defaulted = false;  // p= missing or bad, taken as none because of rua= (6.6.3)
};

// Whether a TXT record is a DMARC record: "v=DMARC1" as its first tag (section 6.3).
bool is_dmarc_record(std::string_view text);

struct DmarcParse {
    std::optional<DmarcRecord> record;
    std::string error;  // why the record is unusable, or what was wrong in a usable one
};
// Tags separated by ';', v=DMARC1 first, p= required; unknown tags are ignored (6.3).
// A record with a bad p= or sp= but a valid rua= is read as p=none (6.6.3), with `error`
// saying what was wrong.
DmarcParse parse_dmarc(std::string_view text);

// "_dmarc." + domain
std::string dmarc_record_name(std::string_view domain);

// Identifier alignment (section 3.1): strict needs the same name; relaxed the same
// organizational domain.
bool aligned(std::string_view authenticated_domain, std::string_view from_domain,
             Alignment alignment, const PublicSuffixList& suffixes);

}  // namespace smarthost::policy
