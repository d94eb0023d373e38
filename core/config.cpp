#include "core/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <cstdlib>
#include <set>

#include "core/config_section.hpp"

namespace smarthost {
namespace {

void apply_environment(Config& config) {
    if (const char* password = std::getenv("SMARTHOST_UPSTREAM_PASSWORD"); password && *password)
        config.delivery.upstream.password = password;
    if (const char* url = std::getenv("SMARTHOST_DATABASE_URL"); url && *url)
        config.database_url = url;
    if (const char* cert = std::getenv("SMARTHOST_TLS_CERTIFICATE"); cert && *cert)
        config.tls_certificate = cert;
    if (const char* key = std::getenv("SMARTHOST_TLS_PRIVATE_KEY"); key && *key)
        config.tls_private_key = key;
    if (const char* kek = std::getenv("SMARTHOST_DKIM_KEK"); kek && *kek)
        config.dkim.key_encryption_key = kek;
}

// Rules that tie keys of different sections together, checked after the environment
// overrides so that they judge the values the process will run with.
void check_across_sections(const Config& config, const std::filesystem::path& file) {
    if (config.database_url.empty())
        throw ConfigError(fmt::format(
            "{}: database.url is required (or set SMARTHOST_DATABASE_URL)", file.string()));
    if (config.tls_certificate.empty() != config.tls_private_key.empty())
        throw ConfigError(fmt::format(
            "{}: tls.certificate and tls.private_key must be given together", file.string()));
    config_file::check_key_encryption_key(config.dkim, file);
    const auto& upstream = config.delivery.upstream;
    if (!upstream.username.empty() && upstream.password.empty())
        throw ConfigError(
            fmt::format("{}: delivery.upstream.password is required with a username (or set "
                        "SMARTHOST_UPSTREAM_PASSWORD)",
                        file.string()));
    if (!upstream.username.empty() && upstream.tls == OutboundTls::none)
        throw ConfigError(fmt::format(
            "{}: delivery.upstream.tls: AUTH needs TLS, so it cannot be \"none\" with a username",
            file.string()));
    if (config.admin.tls && !config.tls_configured())
        throw ConfigError(fmt::format(
            "{}: admin.tls: HTTPS needs tls.certificate and tls.private_key", file.string()));
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
        // One largest message takes its buffer (up to a quarter more than its size, and
        // the old buffer beside the new one while it grows) and, while it is stored, the
        // database driver's copy: with less than three times its size, it could never be
        // accepted.
        if (config.max_body_bytes_in_memory < 3 * l.limits.max_message_bytes)
            throw ConfigError(fmt::format(
                "{}: smtp.max_body_bytes_in_memory: {} is less than three times "
                "smtp.listener[{}]'s max_message_bytes ({}), so its largest messages could "
                "never be received",
                file.string(), config.max_body_bytes_in_memory, i, l.limits.max_message_bytes));
    }
}

}  // namespace

Config load_config(const std::filesystem::path& file) {
    using namespace config_file;
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
        s.read_duration("shutdown_grace_seconds", config.shutdown_grace, 0, 3600);
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
        s.read_int("max_pending", config.auth_max_pending, 1, 100000);
        s.read_int("max_lookups", config.auth_max_lookups, 1, 1000);
        auto& throttle = config.auth_throttle;
        s.read_int("max_failures", throttle.max_failures, 0, 1000000);
        s.read_int("max_network_failures", throttle.max_network_failures, 1, 1000000);
        s.read_int("username_alert_failures", throttle.username_alert_failures, 0, 1000000);
        s.read_duration("failure_window_seconds", throttle.failure_window, 1, 7 * 86400);
        s.read_duration("lockout_seconds", throttle.lockout, 1, 7 * 86400);
        s.reject_unknown();
    }

    SmtpLimits defaults;
    ProxyProtocolConfig proxy_defaults;
    if (const auto* t = subtable(top, "smtp")) {
        Section s(*t, "smtp", file);
        read_limits(s, defaults);
        read_proxy_protocol(s, proxy_defaults);
        s.read_int("client_ipv6_prefix_length", config.client_ipv6_prefix_length, 32, 128);
        s.read_int("max_received_headers", config.max_received_headers, 1, 1000);
        s.read_int("max_body_bytes_in_memory", config.max_body_bytes_in_memory,
                   std::int64_t{1} << 20, std::int64_t{1} << 40);
        if (const auto* n = s.node("listener")) {
            const auto* array = n->as_array();
            if (!array) s.fail("listener", "must be an array of tables ([[smtp.listener]])");
            for (std::size_t i = 0; i < array->size(); ++i) {
                const auto* lt = array->get(i)->as_table();
                if (!lt) s.fail(fmt::format("listener[{}]", i), "must be a table");
                config.listeners.push_back(read_listener(*lt, i, defaults, proxy_defaults, file));
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

    if (const auto* t = subtable(top, "delivery")) read_delivery(*t, file, config.delivery);

    if (const auto* t = subtable(top, "admin")) {
        Section s(*t, "admin", file);
        AdminConfig& admin = config.admin;
        admin.enabled = true;
        s.read("address", admin.address, true);
        split_address(s, admin.address, admin.host, admin.port);
        s.read_int("max_body_bytes", admin.max_body_bytes, 1024, 64 * 1024 * 1024);
        s.read_duration("idle_timeout_seconds", admin.idle_timeout, 1, 3600);
        s.read_duration("request_timeout_seconds", admin.request_timeout, 1, 3600);
        s.read_int("max_connections", admin.max_connections, 1, 100000);
        s.read_bool("tls", admin.tls);
        s.read_int("min_network_prefix_ipv4", admin.min_network_prefix_ipv4, 0, 32);
        s.read_int("min_network_prefix_ipv6", admin.min_network_prefix_ipv6, 0, 128);
        s.reject_unknown();
    }

    if (const auto* t = subtable(top, "metrics")) {
        Section s(*t, "metrics", file);
        MetricsConfig& metrics = config.metrics;
        metrics.enabled = true;
        s.read("address", metrics.address, true);
        split_address(s, metrics.address, metrics.host, metrics.port);
        s.reject_unknown();
    }

    if (const auto* t = subtable(top, "policy")) read_policy(*t, file, config.policy);
    if (const auto* t = subtable(top, "dkim")) config_file::read_dkim(*t, file, config.dkim);
    if (const auto* t = subtable(top, "scanning"))
        config_file::read_scanning(*t, file, config.scanning);
    if (const auto* t = subtable(top, "webhooks"))
        config_file::read_webhooks(*t, file, config.webhooks);
    if (const auto* t = subtable(top, "abuse")) config_file::read_abuse(*t, file, config.abuse);

    if (const auto* t = subtable(top, "limits")) {
        Section s(*t, "limits", file);
        LimitsConfig& l = config.limits;
        constexpr std::int64_t most = 1000000000;
        s.read_int("messages_per_minute", l.messages_per_minute, 0, most);
        s.read_int("messages_per_hour", l.messages_per_hour, 0, most);
        s.read_int("messages_per_day", l.messages_per_day, 0, most);
        s.read_int("recipients_per_hour", l.recipients_per_hour, 0, most);
        s.read_int("recipients_per_day", l.recipients_per_day, 0, most);
        s.read_int("recipients_per_message", l.recipients_per_message, 0, most);
        s.read_int("max_message_bytes", l.max_message_bytes, 0, std::int64_t{1} << 40);
        s.read_int("lease_block", l.lease_block, 1, 1000000);
        s.read_int("max_connections", l.max_connections, 0, 1000000);
        s.read_duration("connection_count_interval_ms", l.connection_count_interval, 100, 60000);
        s.reject_unknown();
    }

    if (const auto* t = subtable(top, "log")) {
        Section s(*t, "log", file);
        s.read("level", config.log_level);
        static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
        if (!levels.count(config.log_level))
            s.fail("level", "must be one of trace, debug, info, warn, error");
        s.read("format", config.log_format);
        if (config.log_format != "text" && config.log_format != "json")
            s.fail("format", "must be text or json");
        s.reject_unknown();
    }

    top.reject_unknown();
    apply_environment(config);
    check_across_sections(config, file);
    return config;
}

}  // namespace smarthost
