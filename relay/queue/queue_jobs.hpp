#pragma once
// Bulk queue actions (docs/abuse.md, docs/admin-api.md "Queue actions"): hold, release,
// cancel or retry every recipient that matches a filter — an account, a credential, a
// sender address or domain, a recipient domain, a time range — on a queue of any size.
//
// An action is a row of queue_jobs, worked on in batches of `batch_size` recipients, each
// batch one transaction of its own that also moves the job's cursor and count: no lock is
// held longer than a batch, progress is visible between batches, and a job whose process
// died is taken over where its last batch ended, by any replica, once its lease runs out.
// The recipients are visited in (message id, recipient id) order through the partial
// index of unfinished recipients, one source state after the other, so a job reads the
// queue once whatever the filter. In-flight recipients are never touched (their attempt
// is under way), nor are recipients another transaction holds locked.
//
// A cancel may bounce: each batch then also notes the recipients it cancelled in
// queue_job_reports, and the job sends their delivery reports (one per message) before
// its next batch, each group of reports in the transaction that clears their notes. A
// job taken over sends what its last holder noted first: no report is lost or doubled.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "relay/delivery/dsn.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::queue {

enum class BulkAction { hold, release, cancel, retry };

std::optional<BulkAction> bulk_action_named(std::string_view name);
std::string_view bulk_action_name(BulkAction action);

// The recipient states an action changes, in the order its job visits them.
std::vector<std::string_view> bulk_source_states(BulkAction action);

// The batch statement of an action: $1 job id, $2 lease owner, $3 source state, $4/$5 the
// cursor (message id, recipient id; NULL to start), $6 batch size, $7 lease (ms). Returns
// one row: whether the job was still ours, the recipients changed, and the new cursor.
// A cancel's statement also notes what it cancelled for reports when the job bounces.
// Pure; exposed for tests.
std::string bulk_batch_sql(BulkAction action);

struct JobProgress {
    std::int64_t id = 0;
    std::string state;  // running, done, failed
    std::int64_t recipients = 0;
    bool ours = false;  // whether this call worked on it (false: another holder, or done)
};

class QueueJobs {
  public:
    struct Settings {
        std::size_t batch_size = 1000;
        std::chrono::milliseconds lease{30000};
        std::chrono::milliseconds poll{1000};  // looking for jobs nobody works on
        delivery::DsnSettings dsn;             // a bouncing cancel's reports
        // The Date of those reports.
        std::function<delivery::TimePoint()> clock = [] {
            return std::chrono::system_clock::now();
        };
    };

    // `owner` names this process in leases (host and pid, as delivery claims do).
    QueueJobs(boost::asio::any_io_executor executor, pg::Pool& pool, std::string owner,
              Settings settings);
    ~QueueJobs();

    // Works on job `id` until it is done or `budget` has passed, then gives its lease up
    // (to the runner of whichever replica polls first) and says where it stands. A job
    // another process holds is left alone.
    boost::asio::awaitable<Result<JobProgress>> work_on(std::int64_t id,
                                                        std::chrono::milliseconds budget);

    // Starts holds' jobs that are missing (holds.hpp) and works on every running job whose
    // lease is free or has run out, until stop().
    void start();
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::queue
