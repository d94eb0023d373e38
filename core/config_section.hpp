#pragma once
// Reading the configuration file, shared by the readers of its sections (config.cpp,
// config_listener.cpp, config_delivery.cpp, config_policy.cpp); only they include it, so
// toml++ stays out of core/config.hpp.

#include <fmt/format.h>

#include <toml++/toml.h>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"

namespace smarthost::config_file {

// Reads one table's keys, remembering which were consumed so that unknown keys (usually
// typos) can be reported instead of silently ignored.
class Section {
  public:
    Section(const toml::table& table, std::string path, const std::filesystem::path& file)
        : table_(table), path_(std::move(path)), file_(file) {}

    [[noreturn]] void fail(std::string_view key, std::string_view why) const {
        throw ConfigError(fmt::format("{}: {}: {}", file_.string(), qualified(key), why));
    }

    std::string qualified(std::string_view key) const {
        return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
    }

    const toml::node* node(std::string_view key) {
        used_.insert(std::string(key));
        return table_.get(key);
    }

    void read(std::string_view key, std::string& out, bool required = false) {
        const auto* n = node(key);
        if (!n) {
            if (required) fail(key, "is required");
            return;
        }
        const auto* s = n->as_string();
        if (!s) fail(key, "must be a string");
        out = s->get();
    }

    template <class Int>
    void read_int(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
        const auto* n = node(key);
        if (!n) return;
        const auto* i = n->as_integer();
        if (!i) fail(key, "must be an integer");
        const std::int64_t v = i->get();
        if (v < min || v > max) fail(key, fmt::format("must be between {} and {}", min, max));
        out = static_cast<Int>(v);
    }

    template <class Duration>
    void read_duration(std::string_view key, Duration& out, std::int64_t min, std::int64_t max) {
        std::int64_t count = out.count();
        read_int(key, count, min, max);
        out = Duration(count);
    }

    void read_double(std::string_view key, double& out, double min, double max) {
        const auto* n = node(key);
        if (!n) return;
        double v = 0;
        if (const auto* f = n->as_floating_point()) {
            v = f->get();
        } else if (const auto* i = n->as_integer()) {
            v = static_cast<double>(i->get());
        } else {
            fail(key, "must be a number");
        }
        if (!(v >= min && v <= max)) fail(key, fmt::format("must be between {} and {}", min, max));
        out = v;
    }

    void read_strings(std::string_view key, std::vector<std::string>& out) {
        const auto* n = node(key);
        if (!n) return;
        const auto* array = n->as_array();
        if (!array) fail(key, "must be an array of strings");
        out.clear();
        for (const auto& element : *array) {
            const auto* s = element.as_string();
            if (!s) fail(key, "must be an array of strings");
            out.push_back(s->get());
        }
    }

    void read_bool(std::string_view key, bool& out) {
        const auto* n = node(key);
        if (!n) return;
        const auto* b = n->as_boolean();
        if (!b) fail(key, "must be true or false");
        out = b->get();
    }

    void read_path(std::string_view key, std::filesystem::path& out) {
        std::string text;
        read(key, text);
        if (text.empty()) return;
        std::filesystem::path p(text);
        out = p.is_absolute() ? p : file_.parent_path() / p;
    }

    void reject_unknown(std::initializer_list<std::string_view> subtables = {}) const {
        for (const auto& [key, value] : table_) {
            const std::string name(key.str());
            if (used_.count(name)) continue;
            bool is_subtable = false;
            for (auto sub : subtables)
                is_subtable |= (sub == name);
            if (!is_subtable) fail(name, "is not a known key");
        }
    }

    const toml::table& table() const { return table_; }

  private:
    const toml::table& table_;
    std::string path_;
    const std::filesystem::path& file_;
    std::set<std::string> used_;
};

inline const toml::table* subtable(Section& parent, std::string_view key) {
    const auto* n = parent.node(key);
    if (!n) return nullptr;
    const auto* t = n->as_table();
    if (!t) parent.fail(key, "must be a table");
    return t;
}

// [smtp] and [[smtp.listener]] (config_listener.cpp).
void read_limits(Section& s, SmtpLimits& limits);
void split_address(Section& s, const std::string& a, std::string& host_out,
                   std::uint16_t& port_out);
void read_proxy_protocol(Section& s, ProxyProtocolConfig& proxy);
ListenerConfig read_listener(const toml::table& table, std::size_t index,
                             const SmtpLimits& defaults, const ProxyProtocolConfig& proxy_defaults,
                             const std::filesystem::path& file);

// [delivery] with its [delivery.timeouts] and [delivery.upstream] (config_delivery.cpp).
void read_delivery(const toml::table& table, const std::filesystem::path& file, DeliveryConfig& d);
// Its [[delivery.destination_group]] and [delivery.shaping] (config_shaping.cpp).
void read_shaping(Section& delivery, const std::filesystem::path& file, ShapingConfig& shaping);

// [policy] with its [[policy.dnsbl]] and [[policy.domain_blocklist]] (config_policy.cpp).
void read_policy(const toml::table& table, const std::filesystem::path& file, PolicyConfig& p);

// [dkim] (config_dkim.cpp); the key-encryption key is checked after the environment.
void read_dkim(const toml::table& table, const std::filesystem::path& file, DkimSettings& d);
void read_abuse(const toml::table& table, const std::filesystem::path& file, AbuseConfig& a);
void check_key_encryption_key(const DkimSettings& d, const std::filesystem::path& file);

// [scanning] (config_scanning.cpp).
void read_scanning(const toml::table& table, const std::filesystem::path& file,
                   ScanningConfig& scanning);
// [webhooks] (config_webhooks.cpp).
void read_webhooks(const toml::table& table, const std::filesystem::path& file, WebhooksConfig& w);

}  // namespace smarthost::config_file
