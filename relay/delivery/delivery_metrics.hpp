#pragma once
// What delivery counts (docs/metrics.md): the state each attempt left its recipient in,
// per account for delivered and bounced, the end-to-end latency of delivered mail, and
// the rows its purge deleted.

#include <vector>

#include "relay/queue/claims.hpp"
#include "relay/queue/retention.hpp"

namespace smarthost::delivery {

// `states` holds one entry per recipient of `part`, in message then recipient order (as
// Claims::record reports them); lease_lost ones are another worker's to count.
void count_outcomes(const std::vector<const queue::ClaimedMessage*>& part,
                    const std::vector<queue::RecordedState>& states, queue::TimePoint now);

// smarthost_purged_rows_total{table}: bodies are not rows deleted and are not counted.
void count_purged(const queue::PurgeReport& report);

}  // namespace smarthost::delivery
