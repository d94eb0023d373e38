#include "relay/queue/retry_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <utility>

namespace smarthost::queue {

namespace {

RetryPolicy sanitized(RetryPolicy policy) {
    using std::chrono::seconds;
    policy.first_retry = std::max(policy.first_retry, seconds(1));
    policy.max_interval = std::max(policy.max_interval, policy.first_retry);
    if (!(policy.factor >= 1.0)) policy.factor = 1.0;  // also catches NaN
    if (!(policy.jitter >= 0.0)) policy.jitter = 0.0;
    policy.jitter = std::min(policy.jitter, 0.99);
    policy.max_lifetime = std::max(policy.max_lifetime, seconds(0));
    policy.delay_warning = std::max(policy.delay_warning, seconds(0));
    return policy;
}

RetrySchedule::Uniform seeded_uniform() {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace

RetrySchedule::RetrySchedule(RetryPolicy policy, Uniform uniform)
    : policy_(sanitized(policy)), uniform_(std::move(uniform)) {}

RetrySchedule::RetrySchedule(RetryPolicy policy) : RetrySchedule(policy, seeded_uniform()) {}

std::chrono::seconds RetrySchedule::nominal_delay(int attempts) const {
    const double first = static_cast<double>(policy_.first_retry.count());
    const double cap = static_cast<double>(policy_.max_interval.count());
    const int exponent = std::max(attempts, 1) - 1;
    // pow() may overflow to infinity for large exponents; min() then gives the cap.
    const double nominal = std::min(first * std::pow(policy_.factor, exponent), cap);
    return std::chrono::seconds(static_cast<std::chrono::seconds::rep>(std::llround(nominal)));
}

std::chrono::seconds RetrySchedule::delay(int attempts) {
    const double nominal = static_cast<double>(nominal_delay(attempts).count());
    const double unit = std::clamp(uniform_ ? uniform_() : 0.5, 0.0, 1.0);
    const double scale = 1.0 + policy_.jitter * (2.0 * unit - 1.0);
    const auto seconds = static_cast<std::chrono::seconds::rep>(std::llround(nominal * scale));
    return std::chrono::seconds(std::max<std::chrono::seconds::rep>(seconds, 1));
}

bool RetrySchedule::expired(TimePoint received_at, TimePoint now) const {
    return now - received_at >= policy_.max_lifetime;
}

RetrySchedule::Decision RetrySchedule::after_temporary_failure(TimePoint received_at, int attempts,
                                                               TimePoint now) {
    if (expired(received_at, now)) return Decision{true, {}};
    const TimePoint deadline = received_at + policy_.max_lifetime;
    return Decision{false, std::min(now + delay(attempts), deadline)};
}

bool RetrySchedule::warn_delay(TimePoint received_at, bool already_warned, TimePoint now) const {
    return policy_.delay_warning > std::chrono::seconds(0) && !already_warned &&
           now - received_at >= policy_.delay_warning;
}

RetrySchedule::TimePoint RetrySchedule::retry_until(TimePoint received_at) const {
    return received_at + policy_.max_lifetime;
}

}  // namespace smarthost::queue
