// [webhooks] (docs/configuration.md): the webhook sender's timing, retries, retention and
// where receivers may be.

#include "core/config_section.hpp"
#include "core/network.hpp"

namespace smarthost::config_file {

void read_webhooks(const toml::table& table, const std::filesystem::path& file, WebhooksConfig& w) {
    Section s(table, "webhooks", file);
    s.read_duration("poll_ms", w.poll_interval, 50, 60000);
    s.read_duration("request_timeout_seconds", w.request_timeout, 1, 300);
    s.read_duration("lease_seconds", w.lease, 5, 3600);
    s.read_int("concurrency", w.concurrency, 1, 1000);
    s.read_duration("first_retry_seconds", w.first_retry, 1, 86400);
    s.read_double("retry_backoff_factor", w.retry_backoff_factor, 1.0, 10.0);
    s.read_duration("max_retry_seconds", w.max_retry, 1, 7 * 86400);
    s.read_int("max_attempts", w.max_attempts, 1, 1000);
    s.read_duration("max_age_seconds", w.max_age, 60, 30 * 86400);
    s.read_duration("delivered_retention_seconds", w.delivered_retention, 60, 366 * 86400);
    s.read_duration("failed_retention_seconds", w.failed_retention, 60, 366 * 86400);
    s.read_strings("allow_destination_networks", w.allow_destination_networks);
    for (const auto& network : w.allow_destination_networks)
        if (!Network::parse(network))
            s.fail("allow_destination_networks", "\"" + network + "\" is not a CIDR network");
    s.read_path("tls_ca_file", w.tls_ca_file);
    if (w.max_retry < w.first_retry)
        s.fail("max_retry_seconds", "must not be less than first_retry_seconds");
    s.reject_unknown();
}

}  // namespace smarthost::config_file
