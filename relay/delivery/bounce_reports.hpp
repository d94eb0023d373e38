#pragma once
// Reports of one attempt (DESIGN.md "Outcomes"): for every message, one RFC 3464 report
// listing its recipients that the attempt left bounced or expired, those deferred long
// enough for their one delay warning (action delayed), and those it relayed to a next hop
// without DSN whose NOTIFY asks for SUCCESS (action relayed), ready to be queued from the
// null sender under the original message's account. Pure: no I/O.

#include <chrono>
#include <string>
#include <vector>

#include "relay/delivery/dsn.hpp"
#include "relay/queue/attempt_result.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/group_commit.hpp"

namespace smarthost::delivery {

// `results` and `settlements` are parallel: settlements[i] is what settling made (or will
// make) of results[i]; a lease_lost state reports nothing. Reports follow the messages'
// first appearance in `results`. No report for a null-sender message (RFC 3461 6.2) or for
// recipients whose NOTIFY does not ask for one. Each report names the recipients it covers.
// A message with recipients in other domains (ClaimedMessage::other_domains) gets no
// report here: its lines go into the settlements (Settlement::pending_report), to be sent
// together with the other batches' (pending_reports.hpp).
std::vector<queue::QueuedReport> bounce_reports(const DsnSettings& settings,
                                                const std::vector<queue::AttemptResult>& results,
                                                std::vector<queue::Settlement>& settlements,
                                                TimePoint now);

}  // namespace smarthost::delivery
