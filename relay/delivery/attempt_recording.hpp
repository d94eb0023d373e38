#pragma once
// After a worker's attempt at one domain: its results are settled, and the settlements
// and the bounce reports they call for go to the queue in one transaction (a crash leaves
// both or neither, and the attempt is made again), then the log lines and the delivery
// metrics. A report whose recipients were partly taken over by another worker is queued
// on its own afterwards. A message with recipients in other domains gets its report once
// the last of its batches is recorded (pending_reports.hpp).

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

class PendingReports;

// What recording needs of the scheduler; every reference outlives the recording.
struct AttemptRecorder {
    queue::Claims& claims;
    queue::RetrySchedule& schedule;
    queue::GroupCommitter& committer;
    const std::string& owner;     // the lease owner
    const std::string& hostname;  // Reporting-MTA of the bounce reports
    // Reports of messages whose recipients span several domain batches.
    PendingReports& pending_reports;
};

// `results` are deliver_domain's; the claim they point into outlives the recording.
boost::asio::awaitable<void> record_attempts(AttemptRecorder recorder,
                                             std::vector<queue::AttemptResult> results);

}  // namespace smarthost::delivery
