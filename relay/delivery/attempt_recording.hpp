#pragma once
// After a worker's attempt at one domain: its results are settled, and the settlements
// and the bounce reports they call for go to the queue in one transaction (a crash leaves
// both or neither, and the attempt is made again), then the log lines and the delivery
// metrics. A report whose recipients were partly taken over by another worker is queued
// on its own afterwards.

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "relay/queue/attempt_result.hpp"

namespace smarthost::queue {
class Claims;
class GroupCommitter;
class RetrySchedule;
}  // namespace smarthost::queue

namespace smarthost::delivery {

// What recording needs of the scheduler; every reference outlives the recording.
struct AttemptRecorder {
    queue::Claims& claims;
    queue::RetrySchedule& schedule;
    queue::GroupCommitter& committer;
    const std::string& owner;     // the lease owner
    const std::string& hostname;  // Reporting-MTA of the bounce reports
};

// `results` are deliver_domain's; the claim they point into outlives the recording.
boost::asio::awaitable<void> record_attempts(AttemptRecorder recorder,
                                             std::vector<queue::AttemptResult> results);

}  // namespace smarthost::delivery
