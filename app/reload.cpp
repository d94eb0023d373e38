#include "app/reload.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "relay/ingress/listener.hpp"
#include "relay/ingress/tls_context.hpp"
#include "relay/policy/auth_throttle.hpp"
#include "relay/policy/dnsbl.hpp"

namespace smarthost {

policy::SubmissionPolicy::Settings submission_policy_settings(const Config& config) {
    policy::SubmissionPolicy::Settings settings;
    settings.sender_rules = {config.policy.sender_domain_verification};
    settings.account_cache_ttl = config.policy.account_cache;
    settings.bounce_suppressed =
        config.policy.suppressed_recipients == SuppressedRecipients::bounce;
    settings.max_received_headers = config.max_received_headers;
    settings.messages_per_minute = config.limits.messages_per_minute;
    settings.messages_per_hour = config.limits.messages_per_hour;
    settings.messages_per_day = config.limits.messages_per_day;
    settings.recipients_per_hour = config.limits.recipients_per_hour;
    settings.recipients_per_day = config.limits.recipients_per_day;
    settings.recipients_per_message = config.limits.recipients_per_message;
    settings.max_message_bytes = config.limits.max_message_bytes;
    settings.rate_limiter.max_block = config.limits.lease_block;
    settings.max_connections = config.limits.max_connections;
    settings.max_held_recipients = config.abuse.max_held_recipients;
    return settings;
}

ConfigReloader::ConfigReloader(const Config& running, Targets targets)
    : targets_(std::move(targets)),
      current_(std::make_shared<const Config>(running)),
      running_body_bound_(running.max_body_bytes_in_memory) {
    try {
        started_with_ = read_config_values(running.file);
    } catch (const ConfigError& e) {
        // It loaded a moment ago; if it cannot be read now, every key counts as changed.
        spdlog::warn("configuration keys not recorded for SIGHUP: {}", e.what());
    }
    current_values_ = started_with_;
}

void ConfigReloader::reload() {
    if (targets_.tls) {
        // The certificate files are read again whatever the state of the configuration
        // file: a renewed certificate must not wait for an unrelated fix.
        try {
            targets_.tls->reload();
            spdlog::info("SIGHUP: TLS certificate reloaded");
        } catch (const std::exception& e) {
            spdlog::error("SIGHUP: keeping the old TLS certificate: {}", e.what());
        }
    }
    const std::filesystem::path file = current_->file;  // current_ is replaced below
    std::shared_ptr<const Config> next;
    ConfigValues next_values;
    std::shared_ptr<const policy::BlocklistZones> blocklist_zones;
    try {
        next = std::make_shared<const Config>(load_config(file));
        next_values = read_config_values(file);
        // load_config checks the same entries; this is where a zone that cannot be used
        // would surface, before anything is applied.
        if (targets_.blocklists) blocklist_zones = policy::Blocklists::prepare(next->policy);
    } catch (const std::exception& e) {
        spdlog::error("SIGHUP: configuration not reloaded, the running one stays: {}", e.what());
        return;
    }
    for (const auto& key : changed_keys(started_with_, next_values)) {
        if (!reloadable_key(key))
            spdlog::warn("SIGHUP: {} changed in {}: it takes a restart to apply", key,
                         file.string());
    }
    std::vector<std::string> applied;
    for (const auto& key : changed_keys(current_values_, next_values))
        if (reloadable_key(key)) applied.push_back(key);
    apply(*next, std::move(blocklist_zones));
    current_ = std::move(next);
    current_values_ = std::move(next_values);
    spdlog::info("SIGHUP: configuration reloaded from {}{}{}", file.string(),
                 applied.empty() ? "" : ", applied: ", fmt::format("{}", fmt::join(applied, ", ")));
}

void ConfigReloader::apply(const Config& next,
                           std::shared_ptr<const policy::BlocklistZones> blocklist_zones) {
    if (targets_.blocklists) targets_.blocklists->reconfigure(std::move(blocklist_zones));
    if (targets_.policy) {
        auto settings = submission_policy_settings(next);
        // sender_domain_verification also decides whether the delivery role re-verifies
        // domains: it takes a restart, so the running rule stays.
        settings.sender_rules = targets_.policy->settings().sender_rules;
        targets_.policy->reconfigure(settings);
    }
    if (targets_.auth_throttle) {
        auto settings = targets_.auth_throttle->settings();
        settings.max_failures = next.auth_throttle.max_failures;
        settings.max_network_failures = next.auth_throttle.max_network_failures;
        settings.username_alert_failures = next.auth_throttle.username_alert_failures;
        settings.failure_window = next.auth_throttle.failure_window;
        settings.lockout = next.auth_throttle.lockout;
        targets_.auth_throttle->reconfigure(settings);
    }
    for (auto* listener : targets_.listeners) {
        for (const auto& candidate : next.listeners) {
            if (candidate.name != listener->config().name) continue;
            auto limits = candidate.limits;
            // The body bound takes a restart; a larger message than the running bound can
            // take (a third of it: buffer, growth, the driver's copy) would only ever get
            // 452, so the running size limit stays until the restart.
            const auto running = listener->config().limits.max_message_bytes;
            if (limits.max_message_bytes > running &&
                3 * limits.max_message_bytes > running_body_bound_) {
                spdlog::warn(
                    "SIGHUP: smtp.listener {} max_message_bytes {} is more than a third of the "
                    "running smtp.max_body_bytes_in_memory ({}): it takes a restart with a "
                    "larger bound; {} stays",
                    candidate.name, limits.max_message_bytes, running_body_bound_, running);
                limits.max_message_bytes = running;
            }
            listener->set_limits(limits);
        }
    }
    spdlog::default_logger()->set_level(spdlog::level::from_str(next.log_level));
}

}  // namespace smarthost
