#include "core/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "core/network.hpp"

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

void read_limits(Section& s, SmtpLimits& limits) {
    constexpr std::int64_t big = std::int64_t{1} << 40;
    s.read_int("max_message_bytes", limits.max_message_bytes, 1024, big);
    s.read_int("max_recipients", limits.max_recipients, 1, 100000);
    s.read_int("max_line_bytes", limits.max_line_bytes, 1000, 1 << 20);
    s.read_int("max_errors", limits.max_errors, 1, 1000);
    s.read_int("max_auth_failures", limits.max_auth_failures, 1, 1000);
    s.read_duration("command_timeout_seconds", limits.command_timeout, 1, 3600);
    s.read_duration("data_timeout_seconds", limits.data_timeout, 1, 3600);
    s.read_int("data_min_bytes_per_second", limits.data_min_bytes_per_second, 0, 1 << 30);
    s.read_duration("data_rate_grace_seconds", limits.data_rate_grace, 1, 3600);
    s.read_duration("max_session_seconds", limits.max_session, 0, 7 * 86400);
    s.read_int("max_junk_commands", limits.max_junk_commands, 1, 1000000);
    s.read_int("max_connections", limits.max_connections, 1, 1000000);
    s.read_int("max_connections_per_ip", limits.max_connections_per_ip, 1, 1000000);
    // Up to the 512-octet command line that carries the path (RFC 5321 section 4.5.3.1.4).
    s.read_int("max_local_part_octets", limits.max_local_part_octets, 64, 512);
    s.read_int("max_path_octets", limits.max_path_octets, 256, 512);
}

// "127.0.0.1:2587" or "[::1]:2587" in key `address` of section `s`.
void split_address(Section& s, const std::string& a, std::string& host_out,
                   std::uint16_t& port_out) {
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
    host_out = host;
    port_out = static_cast<std::uint16_t>(number);
}

// proxy_protocol and trusted_proxies of [smtp] or of one listener. Each entry must be an
// address or a network; whether the list may be empty is decided per listener.
void read_proxy_protocol(Section& s, ProxyProtocolConfig& proxy) {
    s.read_bool("proxy_protocol", proxy.enabled);
    s.read_strings("trusted_proxies", proxy.trusted_proxies);
    for (const auto& entry : proxy.trusted_proxies)
        if (!Network::parse(entry))
            s.fail("trusted_proxies", fmt::format("\"{}\" is not an address or network", entry));
}

ListenerConfig read_listener(const toml::table& table, std::size_t index,
                             const SmtpLimits& defaults, const ProxyProtocolConfig& proxy_defaults,
                             const std::filesystem::path& file) {
    Section s(table, fmt::format("smtp.listener[{}]", index), file);
    ListenerConfig listener;
    listener.limits = defaults;
    listener.proxy = proxy_defaults;
    s.read("name", listener.name, true);
    s.read("address", listener.address, true);
    split_address(s, listener.address, listener.host, listener.port);
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
    read_proxy_protocol(s, listener.proxy);
    if (listener.proxy.enabled && listener.proxy.trusted_proxies.empty()) {
        // Named where the list is missing: the listener's own key when it turned the
        // protocol on itself, else the [smtp] default it inherited.
        const std::string message = fmt::format(
            "must list at least one proxy network when proxy_protocol is true (listener {})",
            listener.name);
        if (s.table().contains("proxy_protocol")) s.fail("trusted_proxies", message);
        throw ConfigError(fmt::format("{}: smtp.trusted_proxies: {}", file.string(), message));
    }
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

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

void read_outbound_tls(Section& s, std::string_view key, OutboundTls& out) {
    std::string text;
    s.read(key, text);
    if (text.empty()) return;
    if (text == "none") {
        out = OutboundTls::none;
    } else if (text == "opportunistic") {
        out = OutboundTls::opportunistic;
    } else if (text == "verify") {
        out = OutboundTls::verify;
    } else {
        s.fail(key, "must be one of none, opportunistic, verify");
    }
}

void read_domains(Section& s, std::string_view key, std::vector<std::string>& out) {
    s.read_strings(key, out);
    for (auto& domain : out) {
        domain = lower(domain);
        if (domain.empty()) s.fail(key, "must not contain an empty domain");
    }
}

void read_timeouts(const toml::table& table, const std::filesystem::path& file,
                   OutboundTimeouts& t) {
    Section s(table, "delivery.timeouts", file);
    s.read_duration("connect_seconds", t.connect, 1, 3600);
    s.read_duration("greeting_seconds", t.greeting, 1, 3600);
    s.read_duration("command_seconds", t.command, 1, 3600);
    s.read_duration("tls_handshake_seconds", t.tls_handshake, 1, 3600);
    s.read_duration("mail_seconds", t.mail, 1, 3600);
    s.read_duration("rcpt_seconds", t.rcpt, 1, 3600);
    s.read_duration("data_init_seconds", t.data_init, 1, 3600);
    s.read_duration("data_block_seconds", t.data_block, 1, 3600);
    s.read_duration("data_end_seconds", t.data_end, 1, 3600);
    s.reject_unknown();
}

void read_upstream(const toml::table& table, const std::filesystem::path& file,
                   UpstreamConfig& upstream) {
    Section s(table, "delivery.upstream", file);
    s.read("host", upstream.host, true);
    s.read_int("port", upstream.port, 1, 65535);
    s.read("username", upstream.username);
    s.read("password", upstream.password);
    read_outbound_tls(s, "tls", upstream.tls);
    s.read_bool("allow_auth_without_verified_tls", upstream.allow_auth_without_verified_tls);
    read_domains(s, "domains", upstream.domains);
    s.reject_unknown();
}

// A table of "name" = limit pairs, names lower-cased.
void read_limits(Section& s, const char* key, const char* what,
                 std::map<std::string, std::size_t>& limits) {
    const auto* n = s.node(key);
    if (!n) return;
    const auto* t = n->as_table();
    if (!t) s.fail(key, fmt::format("must be a table of {} = limit", what));
    for (const auto& [name, value] : *t) {
        const auto* i = value.as_integer();
        if (!i || i->get() < 1 || i->get() > 100000)
            s.fail(fmt::format("{}.\"{}\"", key, name.str()),
                   "must be an integer between 1 and 100000");
        limits[lower(std::string(name.str()))] = static_cast<std::size_t>(i->get());
    }
}

// A retention in whole days, 1 day to 10 years.
void read_days(Section& s, std::string_view key, std::chrono::seconds& out) {
    constexpr std::int64_t day = 86400;
    std::int64_t days = out.count() / day;
    s.read_int(key, days, 1, 3660);
    out = std::chrono::seconds(days * day);
}

void read_delivery(const toml::table& table, const std::filesystem::path& file, DeliveryConfig& d) {
    Section s(table, "delivery", file);
    constexpr std::int64_t year = 366LL * 24 * 3600;
    s.read_int("concurrency", d.concurrency, 1, 100000);
    s.read_int("concurrency_per_domain", d.concurrency_per_domain, 1, 100000);
    s.read_int("concurrency_per_host", d.concurrency_per_host, 1, 100000);
    s.read_int("batch_recipients", d.batch_recipients, 1, 100000);
    constexpr std::int64_t mib = 1 << 20;
    s.read_int("max_claim_body_bytes", d.max_claim_body_bytes, mib, std::int64_t{1} << 40);
    s.read_int("max_body_bytes_in_memory", d.max_body_bytes_in_memory, mib, std::int64_t{1} << 40);
    s.read_duration("lease_seconds", d.lease, 5, 86400);
    s.read_duration("poll_seconds", d.poll_interval, 1, 3600);
    s.read_duration("shutdown_grace_seconds", d.shutdown_grace, 0, 3600);
    s.read_int("mx_port", d.mx_port, 1, 65535);
    s.read("source_address", d.source_address);
    s.read_strings("allow_destination_networks", d.allow_destination_networks);
    s.read_strings("dns_forwarders", d.dns_forwarders);
    s.read_duration("dns_timeout_ms", d.dns_timeout, 100, 120000);
    s.read_bool("ipv4", d.ipv4);
    s.read_bool("ipv6", d.ipv6);
    if (!d.ipv4 && !d.ipv6) s.fail("ipv6", "ipv4 and ipv6 cannot both be false");
    read_outbound_tls(s, "tls", d.tls);
    read_domains(s, "verify_domains", d.verify_domains);
    s.read_path("tls_ca_file", d.tls_ca_file);
    s.read_duration("first_retry_seconds", d.first_retry, 1, year);
    s.read_double("retry_backoff_factor", d.retry_backoff_factor, 1.0, 100.0);
    s.read_duration("max_retry_seconds", d.max_retry, 1, year);
    s.read_double("retry_jitter", d.retry_jitter, 0.0, 0.9);
    s.read_duration("max_queue_lifetime_seconds", d.max_queue_lifetime, 1, year);
    s.read_duration("body_retention_seconds", d.body_retention, 0, year);
    read_days(s, "event_retention_days", d.event_retention);
    read_days(s, "rejection_retention_days", d.rejection_retention);
    read_days(s, "suspicious_login_retention_days", d.suspicious_login_retention);
    s.read_duration("purge_interval_seconds", d.purge_interval, 1, 86400);
    read_limits(s, "domain_concurrency", "domain", d.domain_concurrency);
    read_limits(s, "host_concurrency", "host", d.host_concurrency);
    if (const auto* n = s.node("timeouts")) {
        const auto* t = n->as_table();
        if (!t) s.fail("timeouts", "must be a table");
        read_timeouts(*t, file, d.timeouts);
    }
    if (const auto* n = s.node("upstream")) {
        const auto* t = n->as_table();
        if (!t) s.fail("upstream", "must be a table");
        read_upstream(*t, file, d.upstream);
    }
    s.reject_unknown();
}

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
        zone.zone = lower(zone.zone);
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
    s.reject_unknown();
}

void apply_environment(Config& config) {
    if (const char* password = std::getenv("SMARTHOST_UPSTREAM_PASSWORD"); password && *password)
        config.delivery.upstream.password = password;
    if (const char* url = std::getenv("SMARTHOST_DATABASE_URL"); url && *url)
        config.database_url = url;
    if (const char* cert = std::getenv("SMARTHOST_TLS_CERTIFICATE"); cert && *cert)
        config.tls_certificate = cert;
    if (const char* key = std::getenv("SMARTHOST_TLS_PRIVATE_KEY"); key && *key)
        config.tls_private_key = key;
}

}  // namespace

bool UpstreamConfig::applies_to(const std::string& domain) const {
    if (!configured()) return false;
    return domains.empty() ||
           std::find(domains.begin(), domains.end(), lower(domain)) != domains.end();
}

std::size_t DeliveryConfig::limit_for(const std::string& domain) const {
    const auto it = domain_concurrency.find(lower(domain));
    return it == domain_concurrency.end() ? concurrency_per_domain : it->second;
}

std::size_t DeliveryConfig::host_limit_for(const std::string& host) const {
    const std::string name = lower(host);
    if (const auto it = host_concurrency.find(name); it != host_concurrency.end())
        return it->second;
    // The closest ".parent" entry: ".google.com" covers aspmx.l.google.com.
    for (auto dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
        if (const auto it = host_concurrency.find(name.substr(dot)); it != host_concurrency.end())
            return it->second;
    }
    return concurrency_per_host;
}

OutboundTls DeliveryConfig::tls_for(const std::string& domain) const {
    const auto d = lower(domain);
    return std::find(verify_domains.begin(), verify_domains.end(), d) != verify_domains.end()
               ? OutboundTls::verify
               : tls;
}

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

    if (config.database_url.empty())
        throw ConfigError(fmt::format(
            "{}: database.url is required (or set SMARTHOST_DATABASE_URL)", file.string()));
    if (config.tls_certificate.empty() != config.tls_private_key.empty())
        throw ConfigError(fmt::format(
            "{}: tls.certificate and tls.private_key must be given together", file.string()));
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
    return config;
}

}  // namespace smarthost
