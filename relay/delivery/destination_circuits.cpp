#include "relay/delivery/destination_circuits.hpp"

#include <algorithm>

namespace smarthost::delivery {

HostGate gate(const CircuitState& state, CircuitTime now) {
    if (!state.open_until) return HostGate::pass;
    if (now < *state.open_until) return HostGate::skip;
    if (state.probe_until && now < *state.probe_until) return HostGate::skip;
    return HostGate::probe;
}

CircuitTime reopens_at(const CircuitState& state) {
    CircuitTime at = state.open_until.value_or(CircuitTime{});
    if (state.probe_until) at = std::max(at, *state.probe_until);
    return at;
}

bool is_connection_failure(const queue::AttemptResult& failure) {
    return failure.stage == queue::Stage::connect || failure.stage == queue::Stage::greeting;
}

CircuitState after_failure(const CircuitState& state, const ShapingConfig& config, CircuitTime now,
                           std::string error) {
    CircuitState next = state;
    next.last_error = std::move(error);
    next.probe_until.reset();
    if (state.open_until) {
        next.failures = std::max(state.failures + 1, config.circuit_failures);
        next.open_until = now + config.circuit_cooldown;
        return next;
    }
    if (state.failures == 0 || now - state.first_failure_at > config.circuit_window) {
        next.failures = 1;
        next.first_failure_at = now;
    } else {
        ++next.failures;
    }
    if (next.failures >= config.circuit_failures) next.open_until = now + config.circuit_cooldown;
    return next;
}

CircuitState with_probe(const CircuitState& state, CircuitTime until) {
    CircuitState next = state;
    next.probe_until = until;
    return next;
}

}  // namespace smarthost::delivery
