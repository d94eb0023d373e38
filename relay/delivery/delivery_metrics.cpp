#include "relay/delivery/delivery_metrics.hpp"

#include "core/metrics/metrics.hpp"
#include "relay/queue/failure_category.hpp"

namespace smarthost::delivery {

void count_outcomes(const std::vector<queue::AttemptResult>& results,
                    const std::vector<queue::RecipientState>& states, queue::TimePoint now) {
    auto& m = metrics::global();
    for (std::size_t i = 0; i < results.size() && i < states.size(); ++i) {
        const auto& message = *results[i].message;
        const prometheus::Labels account{{"account", message.account_name}};
        switch (states[i]) {
            case queue::RecipientState::delivered:
                m.recipients_delivered.Add(account).Increment();
                m.delivery_latency.Observe(
                    std::chrono::duration<double>(now - message.received_at).count());
                break;
            case queue::RecipientState::bounced:
                m.recipients_bounced.Add(account).Increment();
                break;
            case queue::RecipientState::deferred:
                m.recipients_deferred.Increment();
                break;
            case queue::RecipientState::expired:
                m.recipients_expired.Increment();
                break;
            case queue::RecipientState::lease_lost:
                break;
        }
        if (states[i] == queue::RecipientState::delivered ||
            states[i] == queue::RecipientState::lease_lost)
            continue;
        const auto category = queue::classify_failure(results[i]);
        if (category == queue::FailureCategory::none) continue;
        m.delivery_failures.Add({{"category", std::string(queue::failure_category_name(category))}})
            .Increment();
    }
}

void count_purged(const queue::PurgeReport& report) {
    auto& purged = metrics::global().purged_rows;
    purged.Add({{"table", "events"}}).Increment(static_cast<double>(report.events_deleted));
    purged.Add({{"table", "rejections"}}).Increment(static_cast<double>(report.rejections_deleted));
    purged.Add({{"table", "auth_suspicious_logins"}})
        .Increment(static_cast<double>(report.suspicious_logins_deleted));
    purged.Add({{"table", "mta_sts_policies"}})
        .Increment(static_cast<double>(report.mta_sts_policies_deleted));
}

}  // namespace smarthost::delivery
