#include "relay/delivery/delivery_metrics.hpp"

#include "core/metrics/metrics.hpp"

namespace smarthost::delivery {

void count_outcomes(const std::vector<const queue::ClaimedMessage*>& part,
                    const std::vector<queue::RecordedState>& states, queue::TimePoint now) {
    auto& m = metrics::global();
    std::size_t k = 0;
    for (const auto* message : part) {
        for (std::size_t r = 0; r < message->recipients.size() && k < states.size(); ++r, ++k) {
            const prometheus::Labels account{{"account", message->account_name}};
            switch (states[k]) {
                case queue::RecordedState::delivered:
                    m.recipients_delivered.Add(account).Increment();
                    m.delivery_latency.Observe(
                        std::chrono::duration<double>(now - message->received_at).count());
                    break;
                case queue::RecordedState::bounced:
                    m.recipients_bounced.Add(account).Increment();
                    break;
                case queue::RecordedState::deferred:
                    m.recipients_deferred.Increment();
                    break;
                case queue::RecordedState::expired:
                    m.recipients_expired.Increment();
                    break;
                case queue::RecordedState::lease_lost:
                    break;
            }
        }
    }
}

void count_purged(const queue::PurgeReport& report) {
    auto& purged = metrics::global().purged_rows;
    purged.Add({{"table", "events"}}).Increment(static_cast<double>(report.events_deleted));
    purged.Add({{"table", "rejections"}}).Increment(static_cast<double>(report.rejections_deleted));
    purged.Add({{"table", "auth_suspicious_logins"}})
        .Increment(static_cast<double>(report.suspicious_logins_deleted));
}

}  // namespace smarthost::delivery
