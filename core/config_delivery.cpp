// [delivery]: concurrency, retries, retention, outbound TLS, timeouts and the upstream relay.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/ascii.hpp"
#include "core/config_section.hpp"

namespace smarthost {
namespace config_file {
namespace {

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
        domain = to_lower(domain);
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
        limits[to_lower(name.str())] = static_cast<std::size_t>(i->get());
    }
}

// A retention in whole days, 1 day to 10 years.
void read_days(Section& s, std::string_view key, std::chrono::seconds& out) {
    constexpr std::int64_t day = 86400;
    std::int64_t days = out.count() / day;
    s.read_int(key, days, 1, 3660);
    out = std::chrono::seconds(days * day);
}

}  // namespace

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
    s.read("spf_include", d.spf_include);
    s.read_strings("allow_destination_networks", d.allow_destination_networks);
    s.read_strings("dns_forwarders", d.dns_forwarders);
    s.read_duration("dns_timeout_ms", d.dns_timeout, 100, 120000);
    s.read_path("dnssec_trust_anchor_file", d.dnssec_trust_anchor_file);
    const bool dane_given = s.node("dane") != nullptr;
    s.read_bool("dane", d.dane);
    if (dane_given && d.dane && d.dnssec_trust_anchor_file.empty())
        s.fail("dane",
               "needs dnssec_trust_anchor_file: without DNSSEC validation no TLSA "
               "answer is secure");
    s.read_bool("ipv4", d.ipv4);
    s.read_bool("ipv6", d.ipv6);
    if (!d.ipv4 && !d.ipv6) s.fail("ipv6", "ipv4 and ipv6 cannot both be false");
    read_outbound_tls(s, "tls", d.tls);
    read_domains(s, "verify_domains", d.verify_domains);
    s.read_path("tls_ca_file", d.tls_ca_file);
    s.read_bool("mta_sts", d.mta_sts);
    s.read_int("mta_sts_port", d.mta_sts_port, 1, 65535);
    s.read_duration("mta_sts_timeout_seconds", d.mta_sts_timeout, 1, 60);
    s.read_duration("first_retry_seconds", d.first_retry, 1, year);
    s.read_double("retry_backoff_factor", d.retry_backoff_factor, 1.0, 100.0);
    s.read_duration("max_retry_seconds", d.max_retry, 1, year);
    s.read_double("retry_jitter", d.retry_jitter, 0.0, 0.9);
    s.read_duration("max_queue_lifetime_seconds", d.max_queue_lifetime, 1, year);
    s.read_duration("delay_warning_seconds", d.delay_warning, 0, year);
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
    read_shaping(s, file, d.shaping);
    s.reject_unknown();
}

}  // namespace config_file

bool UpstreamConfig::applies_to(const std::string& domain) const {
    if (!configured()) return false;
    return domains.empty() ||
           std::find(domains.begin(), domains.end(), to_lower(domain)) != domains.end();
}

std::size_t DeliveryConfig::limit_for(const std::string& domain) const {
    const auto it = domain_concurrency.find(to_lower(domain));
    return it == domain_concurrency.end() ? concurrency_per_domain : it->second;
}

std::size_t DeliveryConfig::host_limit_for(const std::string& host) const {
    const std::string name = to_lower(host);
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
    const auto d = to_lower(domain);
    return std::find(verify_domains.begin(), verify_domains.end(), d) != verify_domains.end()
               ? OutboundTls::verify
               : tls;
}

}  // namespace smarthost
