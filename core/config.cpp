#include "core/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <cstdlib>
#include <set>

namespace smarthost {
namespace {

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

void read_limits(Section& s, SmtpLimits& limits) {
    constexpr std::int64_t big = std::int64_t{1} << 40;
    s.read_int("max_message_bytes", limits.max_message_bytes, 1024, big);
    s.read_int("max_recipients", limits.max_recipients, 1, 100000);
    s.read_int("max_line_bytes", limits.max_line_bytes, 1000, 1 << 20);
    s.read_int("max_errors", limits.max_errors, 1, 1000);
    s.read_duration("command_timeout_seconds", limits.command_timeout, 1, 3600);
    s.read_duration("data_timeout_seconds", limits.data_timeout, 1, 3600);
    s.read_int("max_connections", limits.max_connections, 1, 1000000);
    s.read_int("max_connections_per_ip", limits.max_connections_per_ip, 1, 1000000);
}

void split_address(Section& s, ListenerConfig& listener) {
    const std::string& a = listener.address;
    std::string host, port;
    if (!a.empty() && a.front() == '[') {
        const auto close = a.find(']');
        if (close == std::string::npos || close + 1 >= a.size() || a[close + 1] != ':')
            s.fail("address", "must look like [::1]:2587");
        host = a.substr(1, close - 1);
        port = a.substr(close + 2);
    } else {
        const auto colon = a.rfind(':');
        if (colon == std::string::npos || a.find(':') != colon)
            s.fail("address", "must look like 127.0.0.1:2587 (IPv6 in brackets)");
        host = a.substr(0, colon);
        port = a.substr(colon + 1);
    }
    char* end = nullptr;
    const long number = std::strtol(port.c_str(), &end, 10);
    if (host.empty() || port.empty() || *end != '\0' || number < 1 || number > 65535)
        s.fail("address", "must name a host and a port between 1 and 65535");
    listener.host = host;
    listener.port = static_cast<std::uint16_t>(number);
}

ListenerConfig read_listener(const toml::table& table, std::size_t index,
                             const SmtpLimits& defaults, const std::filesystem::path& file) {
    Section s(table, fmt::format("smtp.listener[{}]", index), file);
    ListenerConfig listener;
    listener.limits = defaults;
    s.read("name", listener.name, true);
    s.read("address", listener.address, true);
    split_address(s, listener);
    std::string tls = "starttls";
    s.read("tls", tls);
    if (tls == "none") {
        listener.tls = TlsMode::none;
    } else if (tls == "starttls") {
        listener.tls = TlsMode::starttls;
    } else if (tls == "implicit") {
        listener.tls = TlsMode::implicit;
    } else {
        s.fail("tls", "must be one of none, starttls, implicit");
    }
    s.read_bool("allow_networks", listener.allow_networks);
    read_limits(s, listener.limits);
    s.reject_unknown();
    return listener;
}

const toml::table* subtable(Section& parent, std::string_view key) {
    const auto* n = parent.node(key);
    if (!n) return nullptr;
    const auto* t = n->as_table();
    if (!t) parent.fail(key, "must be a table");
    return t;
}

void apply_environment(Config& config) {
    if (const char* url = std::getenv("SMARTHOST_DATABASE_URL"); url && *url)
        config.database_url = url;
    if (const char* cert = std::getenv("SMARTHOST_TLS_CERTIFICATE"); cert && *cert)
        config.tls_certificate = cert;
    if (const char* key = std::getenv("SMARTHOST_TLS_PRIVATE_KEY"); key && *key)
        config.tls_private_key = key;
}

}  // namespace

Config load_config(const std::filesystem::path& file) {
    toml::table root;
    try {
        root = toml::parse_file(file.string());
    } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        throw ConfigError(
            fmt::format("{}:{}:{}: {}", file.string(), where.line, where.column, e.description()));
    }

    Config config;
    config.file = file;
    Section top(root, "", file);

    if (const auto* t = subtable(top, "server")) {
        Section s(*t, "server", file);
        s.read("hostname", config.hostname, true);
        s.reject_unknown();
    } else {
        top.fail("server", "is required (at least server.hostname)");
    }

    if (const auto* t = subtable(top, "database")) {
        Section s(*t, "database", file);
        s.read("url", config.database_url);
        s.read_int("pool_size", config.database_pool_size, 1, 1000);
        s.reject_unknown();
    }

    if (const auto* t = subtable(top, "tls")) {
        Section s(*t, "tls", file);
        s.read_path("certificate", config.tls_certificate);
        s.read_path("private_key", config.tls_private_key);
        s.reject_unknown();
    }

    if (const auto* t = subtable(top, "auth")) {
        Section s(*t, "auth", file);
        s.read_bool("allow_without_tls", config.allow_auth_without_tls);
        s.read_duration("failure_delay_ms", config.auth_failure_delay, 0, 60000);
        s.read_duration("cache_seconds", config.auth_cache_ttl, 0, 86400);
        s.read_int("hash_threads", config.auth_hash_threads, 1, 64);
        s.reject_unknown();
    }

    SmtpLimits defaults;
    if (const auto* t = subtable(top, "smtp")) {
        Section s(*t, "smtp", file);
        read_limits(s, defaults);
        if (const auto* n = s.node("listener")) {
            const auto* array = n->as_array();
            if (!array) s.fail("listener", "must be an array of tables ([[smtp.listener]])");
            for (std::size_t i = 0; i < array->size(); ++i) {
                const auto* lt = array->get(i)->as_table();
                if (!lt) s.fail(fmt::format("listener[{}]", i), "must be a table");
                config.listeners.push_back(read_listener(*lt, i, defaults, file));
            }
        }
        s.reject_unknown();
    }

    if (const auto* t = subtable(top, "queue")) {
        Section s(*t, "queue", file);
        s.read_int("group_commit_max_messages", config.group_commit_max_messages, 1, 10000);
        s.read_duration("group_commit_max_wait_us", config.group_commit_max_wait, 0, 1000000);
        s.reject_unknown();
    }

    if (const auto* t = subtable(top, "log")) {
        Section s(*t, "log", file);
        s.read("level", config.log_level);
        static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
        if (!levels.count(config.log_level))
            s.fail("level", "must be one of trace, debug, info, warn, error");
        s.reject_unknown();
    }

    top.reject_unknown();
    apply_environment(config);

    if (config.database_url.empty())
        throw ConfigError(fmt::format(
            "{}: database.url is required (or set SMARTHOST_DATABASE_URL)", file.string()));
    if (config.tls_certificate.empty() != config.tls_private_key.empty())
        throw ConfigError(fmt::format(
            "{}: tls.certificate and tls.private_key must be given together", file.string()));
    std::set<std::string> names;
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
        const auto& l = config.listeners[i];
        if (!names.insert(l.name).second)
            throw ConfigError(fmt::format("{}: smtp.listener[{}].name: \"{}\" is used twice",
                                          file.string(), i, l.name));
        if (l.tls != TlsMode::none && !config.tls_configured())
            throw ConfigError(fmt::format(
                "{}: smtp.listener[{}].tls: \"{}\" needs tls.certificate and tls.private_key",
                file.string(), i, l.tls == TlsMode::implicit ? "implicit" : "starttls"));
    }
    return config;
}

}  // namespace smarthost
