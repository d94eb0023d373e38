#pragma once
// Push-back of a destination group (docs/delivery.md "Push-back"): when a receiver answers
// "rate limited, try later" (queue::FailureCategory::rate_limited: 421, Gmail 4.7.28,
// Microsoft 4.7.650, Yahoo TSS04), the group backs off — no mail to it until the backoff
// ends — and its throttle halves its rates and connections; after the backoff the throttle
// recovers by a factor per clean interval, up to 1. The state is shared by every replica
// through one row per group (table destination_backoff). Pure: the clock comes in.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/shaping_config.hpp"

namespace smarthost::delivery {

using BackoffTime = std::chrono::system_clock::time_point;

struct BackoffState {
    double throttle = 1.0;       // as stored when the backoff began
    BackoffTime backoff_until;   // the epoch: never backed off
    std::uint64_t backoffs = 0;  // push-backs that began a backoff, ever
    std::string last_reply;      // the reply that began the latest one
    std::int64_t version = 0;    // of the row; 0: there is none
};

// No mail to the group before backoff_until.
inline bool in_backoff(const BackoffState& state, BackoffTime now) {
    return now < state.backoff_until;
}

// The throttle in force at `now`: the stored one until the backoff ends, then times
// recovery_factor for every whole recovery_interval since, at most 1.
double throttle_at(const BackoffState& state, const ShapingConfig& config, BackoffTime now);

// The state after a push-back at `now`: the throttle in force halved (at least
// min_throttle) and a backoff of `backoff / throttle`, at most max_backoff. Nullopt while
// the group is already backing off: push-backs on connections opened before it began are
// the same episode, and must not halve it again.
std::optional<BackoffState> after_push_back(const BackoffState& state, const ShapingConfig& config,
                                            BackoffTime now, std::string reply);

}  // namespace smarthost::delivery
