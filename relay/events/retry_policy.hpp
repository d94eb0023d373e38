#pragma once
// When a webhook delivery that failed is tried again, and when it is given up (state
// failed, replayable through the API). Exponential, without jitter: deliveries of one
// endpoint and account go one at a time (ordering), so there is no herd to spread. Pure.

#include <chrono>
#include <cstdint>
#include <optional>

namespace smarthost::events {

struct RetryPolicy {
    std::chrono::seconds first_retry{5};
    double factor = 2.0;
    std::chrono::seconds max_retry{3600};
    std::int64_t max_attempts = 15;
    std::chrono::seconds max_age{3 * 86400};
};

// The wait after `attempts` failed attempts (1 for the first) of an event `age` old:
// first_retry * factor^(attempts - 1), at most max_retry; nullopt to give up, once
// max_attempts were made or the event is max_age old.
std::optional<std::chrono::seconds> retry_delay(const RetryPolicy& policy, std::int64_t attempts,
                                                std::chrono::seconds age);

}  // namespace smarthost::events
