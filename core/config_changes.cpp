#include "core/config_changes.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>

#include "core/config.hpp"

namespace smarthost {
namespace {

// A key that is not a bare TOML key ("gmail.com") is quoted, so the path stays readable.
std::string path_of(const std::string& parent, std::string_view key) {
    const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    const std::string part = bare ? std::string(key) : fmt::format("\"{}\"", key);
    return parent.empty() ? part : parent + "." + part;
}

void flatten(const toml::table& table, const std::string& parent, ConfigValues& out);

void flatten_node(const toml::node& node, const std::string& path, ConfigValues& out) {
    if (const auto* table = node.as_table()) {
        flatten(*table, path, out);
        return;
    }
    const auto* array = node.as_array();
    if (array && !array->empty() && array->is_array_of_tables()) {
        for (std::size_t i = 0; i < array->size(); ++i)
            flatten(*array->get(i)->as_table(), fmt::format("{}[{}]", path, i), out);
        return;
    }
    std::ostringstream text;
    node.visit([&text](const auto& value) { text << value; });
    out[path] = text.str();
}

void flatten(const toml::table& table, const std::string& parent, ConfigValues& out) {
    for (const auto& [key, node] : table)
        flatten_node(node, path_of(parent, key.str()), out);
}

// [smtp] and [[smtp.listener]] keys that SIGHUP applies (to sessions that start later).
constexpr std::array<std::string_view, 10> k_smtp_limit_keys{
    "max_message_bytes",       "max_recipients",       "max_line_bytes",  "max_errors",
    "command_timeout_seconds", "data_timeout_seconds", "max_connections", "max_connections_per_ip",
    "max_local_part_octets",   "max_path_octets",
};

constexpr std::array<std::string_view, 10> k_reloadable_keys{
    "server.shutdown_grace_seconds",
    "abuse.max_held_recipients",
    "auth.max_failures",
    "auth.failure_window_seconds",
    "auth.lockout_seconds",
    "policy.suppressed_recipients",
    "policy.account_cache_ms",
    "policy.dnsbl_exempt_networks",
    "smtp.max_received_headers",
    "log.level",
};

// [[policy.dnsbl]] and [[policy.domain_blocklist]]: every key of every zone, and the
// array itself ("policy.dnsbl" when it is written as an empty array).
bool is_blocklist_key(std::string_view key) {
    for (std::string_view array : {"policy.dnsbl", "policy.domain_blocklist"}) {
        if (key.substr(0, array.size()) != array) continue;
        const auto rest = key.substr(array.size());
        if (rest.empty() || rest.front() == '[') return true;
    }
    return false;
}

bool is_listener_part(std::string_view part) {
    constexpr std::string_view prefix = "listener[";
    if (part.substr(0, prefix.size()) != prefix || part.back() != ']') return false;
    const auto index = part.substr(prefix.size(), part.size() - prefix.size() - 1);
    return !index.empty() &&
           std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

ConfigValues parse_config_values(std::string_view toml_text) {
    ConfigValues values;
    try {
        flatten(toml::parse(toml_text), "", values);
    } catch (const toml::parse_error& e) {
        throw ConfigError(std::string(e.description()));
    }
    return values;
}

ConfigValues read_config_values(const std::filesystem::path& file) {
    ConfigValues values;
    try {
        flatten(toml::parse_file(file.string()), "", values);
    } catch (const toml::parse_error& e) {
        throw ConfigError(fmt::format("{}: {}", file.string(), e.description()));
    }
    return values;
}

std::vector<std::string> changed_keys(const ConfigValues& before, const ConfigValues& after) {
    std::vector<std::string> changed;
    auto b = before.begin();
    auto a = after.begin();
    while (b != before.end() || a != after.end()) {
        if (a == after.end() || (b != before.end() && b->first < a->first)) {
            changed.push_back((b++)->first);
        } else if (b == before.end() || a->first < b->first) {
            changed.push_back((a++)->first);
        } else {
            if (b->second != a->second) changed.push_back(b->first);
            ++b;
            ++a;
        }
    }
    return changed;
}

bool reloadable_key(std::string_view key) {
    // The connection count publication runs at the interval it started with.
    if (key == "limits.connection_count_interval_ms") return false;
    if (key.substr(0, 7) == "limits.") return key.find('.', 7) == std::string_view::npos;
    if (std::find(k_reloadable_keys.begin(), k_reloadable_keys.end(), key) !=
        k_reloadable_keys.end())
        return true;
    if (is_blocklist_key(key)) return true;
    if (key.substr(0, 5) != "smtp.") return false;
    const auto last_dot = key.rfind('.');
    const auto name = key.substr(last_dot + 1);
    if (std::find(k_smtp_limit_keys.begin(), k_smtp_limit_keys.end(), name) ==
        k_smtp_limit_keys.end())
        return false;
    if (last_dot == 4) return true;  // [smtp] defaults
    return is_listener_part(key.substr(5, last_dot - 5));
}

}  // namespace smarthost
