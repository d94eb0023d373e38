// [[delivery.destination_group]] and [delivery.shaping]: destination groups and their
// limits, push-back and circuit-breaker settings (core/shaping_config.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/ascii.hpp"
#include "core/config_section.hpp"

namespace smarthost {

std::vector<DestinationGroupConfig> default_destination_groups() {
    // Starting points well below what these receivers take from a sender in good standing:
    // an operator raises them as the relay's addresses earn reputation (docs/delivery.md).
    DestinationGroupConfig gmail;
    gmail.name = "gmail";
    gmail.domains = {"gmail.com", "googlemail.com"};
    gmail.mx_suffixes = {".google.com", ".googlemail.com"};
    gmail.max_connections = 10;
    gmail.messages_per_connection = 100;
    gmail.messages_per_minute = 1000;
    gmail.messages_per_hour = 30000;

    DestinationGroupConfig microsoft;
    microsoft.name = "microsoft";
    microsoft.domains = {"outlook.com", "hotmail.com", "live.com", "msn.com"};
    microsoft.mx_suffixes = {".protection.outlook.com", ".outlook.com"};
    microsoft.max_connections = 10;
    microsoft.messages_per_connection = 50;
    microsoft.messages_per_minute = 600;
    microsoft.messages_per_hour = 20000;

    DestinationGroupConfig yahoo;
    yahoo.name = "yahoo";
    yahoo.domains = {"yahoo.com", "ymail.com", "aol.com"};
    yahoo.mx_suffixes = {".yahoodns.net"};
    yahoo.max_connections = 5;
    yahoo.messages_per_connection = 20;
    yahoo.messages_per_minute = 300;
    yahoo.messages_per_hour = 10000;
    return {gmail, microsoft, yahoo};
}

namespace config_file {
namespace {

// Groups are metric labels: their number is bounded, and so are their lists.
constexpr std::size_t k_max_groups = 64;
constexpr std::size_t k_max_group_entries = 1000;

// "none" labels the metrics of mail without a group.
bool valid_group_name(const std::string& name) {
    return !name.empty() && name.size() <= 64 && name != "none" &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
           });
}

void read_names(Section& s, std::string_view key, std::vector<std::string>& out, bool suffixes) {
    if (!s.node(key)) return;
    s.read_strings(key, out);
    if (out.size() > k_max_group_entries)
        s.fail(key, fmt::format("must have at most {} entries", k_max_group_entries));
    for (auto& name : out) {
        name = to_lower(name);
        if (!name.empty() && name.back() == '.') name.pop_back();
        if (suffixes && (name.size() < 2 || name.front() != '.'))
            s.fail(key, fmt::format("\"{}\" must start with '.' (\".google.com\")", name));
        if (!suffixes && (name.empty() || name.front() == '.'))
            s.fail(key, fmt::format("\"{}\" must be a domain name", name));
    }
}

void read_group(const toml::table& table, std::size_t index, const std::filesystem::path& file,
                std::vector<DestinationGroupConfig>& groups) {
    Section s(table, fmt::format("delivery.destination_group[{}]", index), file);
    std::string name;
    s.read("name", name, true);
    if (!valid_group_name(name))
        s.fail("name", "must be 1 to 64 characters of a-z, 0-9, '_' and '-', and not \"none\"");
    auto existing = std::find_if(groups.begin(), groups.end(),
                                 [&](const DestinationGroupConfig& g) { return g.name == name; });
    bool enabled = true;
    s.read_bool("enabled", enabled);
    if (!enabled) {
        if (existing != groups.end()) groups.erase(existing);
        s.reject_unknown();
        return;
    }
    // A shipped group's name: only the keys given change. A new name: a new group.
    DestinationGroupConfig group;
    group.name = name;
    if (existing != groups.end()) group = *existing;
    read_names(s, "domains", group.domains, false);
    read_names(s, "mx_suffixes", group.mx_suffixes, true);
    s.read_int("max_connections", group.max_connections, 0, 100000);
    s.read_int("messages_per_connection", group.messages_per_connection, 0, 1000000);
    s.read_int("messages_per_minute", group.messages_per_minute, 0, 100000000);
    s.read_int("messages_per_hour", group.messages_per_hour, 0, 1000000000);
    s.reject_unknown();
    if (group.domains.empty() && group.mx_suffixes.empty())
        s.fail("domains", "a group needs domains or mx_suffixes");
    if (existing != groups.end()) {
        *existing = std::move(group);
    } else {
        if (groups.size() >= k_max_groups)
            s.fail("name", fmt::format("at most {} destination groups", k_max_groups));
        groups.push_back(std::move(group));
    }
}

// A domain or suffix in two groups would make the choice depend on their order.
void check_overlaps(Section& s, const std::vector<DestinationGroupConfig>& groups) {
    std::set<std::string> domains;
    std::set<std::string> suffixes;
    for (const auto& group : groups) {
        for (const auto& domain : group.domains)
            if (!domains.insert(domain).second)
                s.fail("destination_group",
                       fmt::format("domain \"{}\" is in two groups (the second: \"{}\")", domain,
                                   group.name));
        for (const auto& suffix : group.mx_suffixes)
            if (!suffixes.insert(suffix).second)
                s.fail("destination_group",
                       fmt::format("mx suffix \"{}\" is in two groups (the second: \"{}\")", suffix,
                                   group.name));
    }
}

void read_settings(const toml::table& table, const std::filesystem::path& file,
                   ShapingConfig& shaping) {
    Section s(table, "delivery.shaping", file);
    bool default_groups = true;
    s.read_bool("default_groups", default_groups);
    if (!default_groups) shaping.groups.clear();
    s.read_duration("state_refresh_seconds", shaping.state_refresh, 1, 300);
    s.read_duration("backoff_seconds", shaping.backoff, 1, 86400);
    s.read_duration("max_backoff_seconds", shaping.max_backoff, 1, 86400);
    s.read_double("min_throttle", shaping.min_throttle, 0.01, 1.0);
    s.read_double("recovery_factor", shaping.recovery_factor, 1.01, 10.0);
    s.read_duration("recovery_interval_seconds", shaping.recovery_interval, 1, 86400);
    s.read_int("circuit_failures", shaping.circuit_failures, 1, 1000);
    s.read_duration("circuit_window_seconds", shaping.circuit_window, 1, 86400);
    s.read_duration("circuit_cooldown_seconds", shaping.circuit_cooldown, 1, 86400);
    s.reject_unknown();
    if (shaping.max_backoff < shaping.backoff)
        s.fail("max_backoff_seconds", "must be at least backoff_seconds");
}

}  // namespace

void read_shaping(Section& delivery, const std::filesystem::path& file, ShapingConfig& shaping) {
    if (const auto* n = delivery.node("shaping")) {
        const auto* t = n->as_table();
        if (!t) delivery.fail("shaping", "must be a table");
        read_settings(*t, file, shaping);
    }
    if (const auto* n = delivery.node("destination_group")) {
        const auto* array = n->as_array();
        if (!array) delivery.fail("destination_group", "must be an array of tables");
        std::size_t index = 0;
        for (const auto& element : *array) {
            const auto* t = element.as_table();
            if (!t) delivery.fail("destination_group", "must be an array of tables");
            read_group(*t, index++, file, shaping.groups);
        }
    }
    check_overlaps(delivery, shaping.groups);
}

}  // namespace config_file
}  // namespace smarthost
