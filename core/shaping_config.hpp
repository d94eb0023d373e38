#pragma once
// [[delivery.destination_group]] and [delivery.shaping] (docs/delivery.md "Traffic shaping
// per destination"): named groups of destinations, chosen by recipient domain or by MX host
// name suffix, each with its own connection and message limits, and how the relay reacts
// when a receiver pushes back.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace smarthost {

struct DestinationGroupConfig {
    std::string name;                         // [a-z0-9_-], at most 64 characters
    std::vector<std::string> domains;         // recipient domains, lower-cased, exact
    std::vector<std::string> mx_suffixes;     // ".google.com": MX host names ending so
    std::size_t max_connections = 0;          // at once in each process; 0: no group limit
    std::size_t messages_per_connection = 0;  // then QUIT and a new connection; 0: no limit
    std::uint64_t messages_per_minute = 0;    // across every replica; 0: no limit
    std::uint64_t messages_per_hour = 0;      // across every replica; 0: no limit
};

// The groups shipped for the big receivers, with conservative limits (docs/delivery.md).
std::vector<DestinationGroupConfig> default_destination_groups();

struct ShapingConfig {
    // The shipped groups (gmail, microsoft, yahoo) unless the file replaces or disables them.
    std::vector<DestinationGroupConfig> groups = default_destination_groups();
    // How often each process reads the shared state (backoffs, open circuits).
    std::chrono::seconds state_refresh{5};
    // Push-back: a backoff lasts backoff / throttle (the throttle after halving), at most
    // max_backoff; the throttle never goes below min_throttle and grows by recovery_factor
    // per recovery_interval without push-back after the backoff, up to 1.
    std::chrono::seconds backoff{60};
    std::chrono::seconds max_backoff{900};
    double min_throttle = 0.125;
    double recovery_factor = 1.5;
    std::chrono::seconds recovery_interval{120};
    // Circuit breaker per MX host: circuit_failures connection-level failures within
    // circuit_window open it for circuit_cooldown; then one probe connection decides.
    std::uint32_t circuit_failures = 5;
    std::chrono::seconds circuit_window{300};
    std::chrono::seconds circuit_cooldown{300};
};

}  // namespace smarthost
