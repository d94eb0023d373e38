#include "relay/events/retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace smarthost::events {

std::optional<std::chrono::seconds> retry_delay(const RetryPolicy& policy, std::int64_t attempts,
                                                std::chrono::seconds age) {
    if (attempts >= policy.max_attempts || age >= policy.max_age) return std::nullopt;
    const double exponent = static_cast<double>(std::max<std::int64_t>(attempts, 1) - 1);
    const double nominal = static_cast<double>(policy.first_retry.count()) *
                           std::pow(std::max(policy.factor, 1.0), exponent);
    const double capped = std::min(nominal, static_cast<double>(policy.max_retry.count()));
    return std::chrono::seconds(std::max<std::int64_t>(1, std::llround(capped)));
}

}  // namespace smarthost::events
