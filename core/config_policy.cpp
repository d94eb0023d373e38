// [policy]: suppressed recipients, sender domain verification and the DNS blocklists.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/ascii.hpp"
#include "core/config_section.hpp"
#include "core/network.hpp"

namespace smarthost::config_file {
namespace {

std::vector<BlocklistZone> read_blocklists(Section& parent, std::string_view key,
                                           const std::filesystem::path& file) {
    std::vector<BlocklistZone> zones;
    const auto* n = parent.node(key);
    if (!n) return zones;
    const auto* array = n->as_array();
    if (!array) parent.fail(key, fmt::format("must be an array of tables ([[policy.{}]])", key));
    for (std::size_t i = 0; i < array->size(); ++i) {
        const auto* t = array->get(i)->as_table();
        if (!t) parent.fail(fmt::format("{}[{}]", key, i), "must be a table");
        Section s(*t, fmt::format("policy.{}[{}]", key, i), file);
        BlocklistZone zone;
        s.read("zone", zone.zone, true);
        zone.zone = to_lower(zone.zone);
        while (!zone.zone.empty() && zone.zone.back() == '.')
            zone.zone.pop_back();
        const bool name_ok = std::all_of(zone.zone.begin(), zone.zone.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '-' || c == '_' || c == '.';
        });
        if (!name_ok || zone.zone.empty() || zone.zone.front() == '.' ||
            zone.zone.find("..") != std::string::npos)
            s.fail("zone", "must be a DNS name such as zen.spamhaus.org");
        std::string action = "reject";
        s.read("action", action);
        if (action == "reject") {
            zone.action = BlocklistAction::reject;
        } else if (action == "tempfail") {
            zone.action = BlocklistAction::tempfail;
        } else if (action == "tag") {
            zone.action = BlocklistAction::tag;
        } else {
            s.fail("action", "must be one of reject, tempfail, tag");
        }
        s.read_strings("listed_answers", zone.listed_answers);
        for (const auto& entry : zone.listed_answers)
            if (!Network::parse(entry))
                s.fail("listed_answers", fmt::format("\"{}\" is not an address or network", entry));
        s.read("lookup_url", zone.lookup_url);
        s.read_duration("timeout_ms", zone.timeout, 100, 60000);
        s.read_bool("auth_suspicious", zone.auth_suspicious);
        s.reject_unknown();
        zones.push_back(std::move(zone));
    }
    return zones;
}

}  // namespace

void read_policy(const toml::table& table, const std::filesystem::path& file, PolicyConfig& p) {
    Section s(table, "policy", file);
    std::string suppressed = "reject";
    s.read("suppressed_recipients", suppressed);
    if (suppressed == "reject") {
        p.suppressed_recipients = SuppressedRecipients::reject;
    } else if (suppressed == "bounce") {
        p.suppressed_recipients = SuppressedRecipients::bounce;
    } else {
        s.fail("suppressed_recipients", "must be \"reject\" or \"bounce\"");
    }
    s.read_bool("sender_domain_verification", p.sender_domain_verification);
    s.read("verification_label", p.verification_label);
    // One DNS label: letters, digits, '-' and '_' (the leading underscore of RFC 8552).
    const auto& label = p.verification_label;
    const bool label_ok = !label.empty() && label.size() <= 63 &&
                          std::all_of(label.begin(), label.end(), [](unsigned char c) {
                              return std::isalnum(c) || c == '-' || c == '_';
                          });
    if (!label_ok)
        s.fail("verification_label",
               "must be one DNS label (letters, digits, '-', '_'; at most 63 characters)");
    s.read_duration("verification_interval_seconds", p.verification_interval, 60, 7 * 86400);
    s.read_duration("account_cache_ms", p.account_cache, 0, 600000);
    p.dnsbl = read_blocklists(s, "dnsbl", file);
    p.domain_blocklist = read_blocklists(s, "domain_blocklist", file);
    s.read_strings("dnsbl_exempt_networks", p.dnsbl_exempt_networks);
    for (const auto& entry : p.dnsbl_exempt_networks)
        if (!Network::parse(entry))
            s.fail("dnsbl_exempt_networks",
                   fmt::format("\"{}\" is not an address or network", entry));
    s.read_duration("outbound_check_interval_seconds", p.outbound_check_interval, 10, 86400);
    s.read_duration("domain_health_interval_seconds", p.domain_health_interval, 300, 7 * 86400);
    s.reject_unknown();
}

}  // namespace smarthost::config_file
