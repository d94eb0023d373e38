#include "relay/delivery/destination_backoff.hpp"

#include <algorithm>
#include <cmath>

namespace smarthost::delivery {

double throttle_at(const BackoffState& state, const ShapingConfig& config, BackoffTime now) {
    if (state.throttle >= 1.0 || now < state.backoff_until) return std::min(state.throttle, 1.0);
    const auto clean = now - state.backoff_until;
    const auto steps = clean / std::chrono::duration_cast<BackoffTime::duration>(
                                   std::max(config.recovery_interval, std::chrono::seconds(1)));
    // Past the steps that reach 1 the power only grows: stop counting there.
    const double limited_steps = std::min<double>(static_cast<double>(steps), 64.0);
    return std::min(1.0, state.throttle * std::pow(config.recovery_factor, limited_steps));
}

std::optional<BackoffState> after_push_back(const BackoffState& state, const ShapingConfig& config,
                                            BackoffTime now, std::string reply) {
    if (in_backoff(state, now)) return std::nullopt;
    BackoffState next = state;
    next.throttle = std::max(config.min_throttle, throttle_at(state, config, now) / 2);
    const auto scaled = std::chrono::duration<double>(config.backoff) / next.throttle;
    const auto backoff = std::min<std::chrono::duration<double>>(scaled, config.max_backoff);
    next.backoff_until = now + std::chrono::duration_cast<BackoffTime::duration>(backoff);
    next.backoffs = state.backoffs + 1;
    next.last_reply = std::move(reply);
    return next;
}

}  // namespace smarthost::delivery
