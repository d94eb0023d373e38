#pragma once
// Containment routes (docs/admin-api.md "Holds" and "Queue actions"):
//   GET  /api/v1/holds, GET /api/v1/holds/{id}, POST /api/v1/accounts/{id}/holds,
//   POST /api/v1/holds/{id}/release;
//   POST /api/v1/queue/actions, GET /api/v1/queue/actions, GET /api/v1/queue/actions/{id}.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>

#include "admin-api/router.hpp"
#include "core/result.hpp"
#include "relay/queue/queue_jobs.hpp"

namespace smarthost::admin {

// Works on a queue job for a moment, so a small action answers with its count at once
// (queue::QueueJobs::work_on). Empty: every action is left to the replicas' job runners
// and answered 202.
using WorkOnQueueJob = std::function<boost::asio::awaitable<Result<queue::JobProgress>>(
    std::int64_t job_id, std::chrono::milliseconds budget)>;

void add_containment_routes(Router& router, WorkOnQueueJob work_on);

}  // namespace smarthost::admin
