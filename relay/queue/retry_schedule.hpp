#pragma once
// When a deferred recipient is tried again, and when it has waited long enough to give
// up (DESIGN.md "Outcomes"). Pure: the clock reading and the randomness come in from
// outside, so every boundary is testable.

#include <chrono>
#include <functional>

namespace smarthost::queue {

struct RetryPolicy {
    std::chrono::seconds first_retry{5 * 60};
    double factor = 2.0;
    std::chrono::seconds max_interval{4 * 60 * 60};
    // Each delay is spread uniformly over [1 - jitter, 1 + jitter] times its nominal
    // value, so recipients deferred together do not all come back together.
    double jitter = 0.2;
    std::chrono::seconds max_lifetime{5 * 24 * 60 * 60};
    // A recipient still deferred this long after its message was received gets one delay
    // warning (RFC 3461 NOTIFY=DELAY); zero: never.
    std::chrono::seconds delay_warning{4 * 60 * 60};
};

class RetrySchedule {
  public:
    using TimePoint = std::chrono::system_clock::time_point;
    // Returns a number uniformly distributed in [0, 1).
    using Uniform = std::function<double()>;

    // Out-of-range settings are clamped: factor >= 1, jitter in [0, 1), intervals >= 1 s.
    RetrySchedule(RetryPolicy policy, Uniform uniform);
    // A schedule with a pseudo-random generator seeded from std::random_device.
    explicit RetrySchedule(RetryPolicy policy);

    const RetryPolicy& policy() const { return policy_; }

    // The delay without jitter after `attempts` failed attempts (1 for the first):
    // first_retry * factor^(attempts - 1), at most max_interval.
    std::chrono::seconds nominal_delay(int attempts) const;
    // nominal_delay scaled by a factor in [1 - jitter, 1 + jitter], at least 1 s.
    std::chrono::seconds delay(int attempts);

    // A message is expired once it has been queued for max_lifetime or longer.
    bool expired(TimePoint received_at, TimePoint now) const;

    struct Decision {
        bool expire = false;
        TimePoint next_attempt_at;  // meaningful when !expire
    };
    // After a temporary failure at `now`: expire, or retry after delay(attempts) — but no
    // later than the expiry time, so the last attempt happens when the lifetime ends.
    Decision after_temporary_failure(TimePoint received_at, int attempts, TimePoint now);

    // Whether a recipient deferred at `now` is due its delay warning: warnings are on, it
    // has waited delay_warning or longer, and it had none yet.
    bool warn_delay(TimePoint received_at, bool already_warned, TimePoint now) const;
    // When retries end for a message received at `received_at`.
    TimePoint retry_until(TimePoint received_at) const;

  private:
    RetryPolicy policy_;
    Uniform uniform_;
};

}  // namespace smarthost::queue
