#pragma once
// After a worker's attempt at one domain: its recipients' outcomes and the bounce reports
// they call for go to the queue in one transaction (a crash leaves both or neither, and
// the attempt is made again), then the log lines and the delivery metrics. A report whose
// recipients were partly taken over by another worker is queued on its own afterwards.

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "relay/delivery/domain_delivery.hpp"

namespace smarthost::queue {
class Claims;
class GroupCommitter;
}  // namespace smarthost::queue

namespace smarthost::delivery {

// What recording needs of the scheduler; every reference outlives the recording.
struct AttemptRecorder {
    queue::Claims& claims;
    queue::GroupCommitter& committer;
    const std::string& owner;     // the lease owner
    const std::string& hostname;  // Reporting-MTA of the bounce reports
};

// `attempts` are deliver_domain's for `part` (message order, then recipient order).
boost::asio::awaitable<void> record_attempts(AttemptRecorder recorder,
                                             const std::vector<const queue::ClaimedMessage*>& part,
                                             std::vector<RecipientAttempt> attempts);

}  // namespace smarthost::delivery
