#pragma once
// Circuit breaker per MX host name (docs/delivery.md "Circuit breaker"): a run of
// connection-level failures to one host (refused or timed-out connections, no greeting, a
// refusing greeting such as 421) within a window opens its circuit, and while it is open
// the host is skipped in the MX loop instead of every recipient's retry burning a
// connection timeout on it. After the cool-down one probe connection (half-open) decides:
// success closes the circuit, failure opens it again. Shared by every replica through
// one row per failing host (table destination_circuits). Pure: the clock comes in.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/shaping_config.hpp"
#include "relay/queue/attempt_result.hpp"

namespace smarthost::delivery {

using CircuitTime = std::chrono::system_clock::time_point;

struct CircuitState {
    std::uint32_t failures = 0;  // within the window that began at first_failure_at
    CircuitTime first_failure_at;
    std::optional<CircuitTime> open_until;   // open (skipped) until then
    std::optional<CircuitTime> probe_until;  // a probe connection is out until then
    std::string last_error;
    std::int64_t version = 0;  // of the row; 0: there is none
};

enum class HostGate {
    pass,   // closed: connect as usual
    skip,   // open, or half-open with another worker's probe out: try the next MX host
    probe,  // half-open: this connection is the probe (claim it first)
};

HostGate gate(const CircuitState& state, CircuitTime now);

// When a skipped host may be tried again.
CircuitTime reopens_at(const CircuitState& state);

// Whether a failure to open a connection is connection-level: the host is down or refuses
// to serve (no connection, no greeting, a greeting other than 2xx), not a protocol or TLS
// problem of one conversation.
bool is_connection_failure(const queue::AttemptResult& failure);

// The state after a connection-level failure at `now`: counted within the window (a new
// window after it), opened for the cool-down at `circuit_failures`; a failed probe, or a
// failure while open, opens it again from now.
CircuitState after_failure(const CircuitState& state, const ShapingConfig& config, CircuitTime now,
                           std::string error);

// The state of a half-open circuit whose probe this worker has claimed until `until`.
CircuitState with_probe(const CircuitState& state, CircuitTime until);

}  // namespace smarthost::delivery
