#pragma once
// What delivery counts (docs/metrics.md): the state each attempt left its recipient in,
// per account for delivered and bounced, and the end-to-end latency of delivered mail.

#include <vector>

#include "relay/queue/claims.hpp"

namespace smarthost::delivery {

// `states` holds one entry per recipient of `part`, in message then recipient order (as
// Claims::record reports them); lease_lost ones are another worker's to count.
void count_outcomes(const std::vector<const queue::ClaimedMessage*>& part,
                    const std::vector<queue::RecordedState>& states, queue::TimePoint now);

}  // namespace smarthost::delivery
