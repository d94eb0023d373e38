#pragma once
// What changed in the configuration file since start-up, key by key, and which of those
// changes SIGHUP can apply to a running process (docs/configuration.md, "Signals").

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost {

// Every key of a configuration file with its value as TOML text, flattened to its path:
// "limits.messages_per_hour" → "2000", "smtp.listener[0].address" → "'127.0.0.1:2587'",
// "delivery.domain_concurrency.\"gmail.com\"" → "20". Throws ConfigError when the file
// cannot be read or parsed.
using ConfigValues = std::map<std::string, std::string>;
ConfigValues read_config_values(const std::filesystem::path& file);
ConfigValues parse_config_values(std::string_view toml_text);

// The keys whose value differs between the two, or that only one of them has, in order.
std::vector<std::string> changed_keys(const ConfigValues& before, const ConfigValues& after);

// Whether SIGHUP applies a new value of `key`; the others need a restart.
bool reloadable_key(std::string_view key);

}  // namespace smarthost
