#pragma once
// What delivery counts (docs/metrics.md): the state each attempt left its recipient in,
// per account for delivered and bounced, the end-to-end latency of delivered mail, and
// the rows its purge deleted.

#include <vector>

#include "relay/queue/claims.hpp"
#include "relay/queue/retention.hpp"

namespace smarthost::delivery {

// states[i] is what Claims::record left results[i] in; lease_lost ones are another
// worker's to count.
void count_outcomes(const std::vector<queue::AttemptResult>& results,
                    const std::vector<queue::RecipientState>& states, queue::TimePoint now);

// smarthost_purged_rows_total{table}: bodies are not rows deleted and are not counted.
void count_purged(const queue::PurgeReport& report);

}  // namespace smarthost::delivery
