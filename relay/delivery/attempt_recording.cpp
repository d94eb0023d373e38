#include "relay/delivery/attempt_recording.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <set>
#include <utility>

#include "relay/delivery/bounce_reports.hpp"
#include "relay/delivery/delivery_metrics.hpp"
#include "relay/delivery/pending_reports.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/group_commit.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using queue::AttemptResult;
using queue::RecipientState;
using queue::TimePoint;

// Some recipients of a report were taken over by another worker (their lease ran out),
// so the report was not stored with the settlements: report, on its own, what this worker
// did record for those messages.
asio::awaitable<void> report_lost_leases(AttemptRecorder recorder,
                                         const std::vector<AttemptResult>& results,
                                         const std::vector<queue::Settlement>& recorded,
                                         TimePoint now) {
    std::set<const queue::ClaimedMessage*> affected;
    for (std::size_t i = 0; i < results.size() && i < recorded.size(); ++i)
        if (recorded[i].state == RecipientState::lease_lost) affected.insert(results[i].message);
    std::vector<AttemptResult> affected_results;
    std::vector<queue::Settlement> affected_settlements;
    for (std::size_t i = 0; i < results.size() && i < recorded.size(); ++i) {
        if (!affected.contains(results[i].message)) continue;
        affected_results.push_back(results[i]);
        affected_settlements.push_back(recorded[i]);
    }
    const DsnSettings dsn_settings{recorder.hostname};
    for (auto& bounce : bounce_reports(dsn_settings, affected_results, affected_settlements, now)) {
        const std::string id = bounce.message.id;
        auto queued = co_await recorder.committer.enqueue(std::move(bounce.message));
        if (!queued) {
            spdlog::error("delivery: bounce {} could not be queued: {}", id,
                          queued.error().message);
        } else {
            spdlog::info("delivery: bounce queued as {}", id);
        }
    }
}

void log_results(const std::vector<AttemptResult>& results,
                 const std::vector<RecipientState>& states) {
    for (std::size_t i = 0; i < results.size() && i < states.size(); ++i) {
        const auto& r = results[i];
        spdlog::info("delivery: {} to=<{}> {} relay={}[{}] tls={} attempts={} reply=\"{}\"",
                     r.message->id, r.recipient->address, queue::state_name(states[i]),
                     r.peer.host.empty() ? "none" : r.peer.host, r.peer.ip,
                     r.peer.tls_version.empty() ? "none" : r.peer.tls_version,
                     r.recipient->attempts, r.reply.summary());
    }
}

// Recipients not attempted (destination shaping) go back to the queue, due when it said,
// without an attempt counted; they are taken out of `results`.
asio::awaitable<void> postpone_not_attempted(AttemptRecorder recorder,
                                             std::vector<AttemptResult>& results) {
    std::map<TimePoint, std::vector<std::int64_t>> due;
    std::erase_if(results, [&](const AttemptResult& result) {
        if (!result.not_attempted_until) return false;
        due[*result.not_attempted_until].push_back(result.recipient->id);
        return true;
    });
    for (auto& [due_at, ids] : due) {
        auto postponed = co_await recorder.claims.postpone(recorder.owner, std::move(ids), due_at);
        if (!postponed)
            spdlog::warn("delivery: putting back recipients not attempted failed: {}",
                         postponed.error().message);
    }
}

}  // namespace

asio::awaitable<void> record_attempts(AttemptRecorder recorder,
                                      std::vector<AttemptResult> results) {
    co_await postpone_not_attempted(recorder, results);
    const auto now = std::chrono::system_clock::now();
    auto settlements = queue::settle(results, recorder.schedule, now);
    const DsnSettings dsn_settings{recorder.hostname};
    auto bounces = bounce_reports(dsn_settings, results, settlements, now);
    std::vector<std::string> bounce_ids;
    for (const auto& bounce : bounces)
        bounce_ids.push_back(bounce.message.id);
    // What was recorded: the settlements, lease_lost where another worker had the row.
    std::vector<queue::Settlement> recorded = settlements;
    auto report = co_await recorder.claims.record(recorder.owner, results, std::move(settlements),
                                                  std::move(bounces));
    if (!report) {
        // The leases run out and another attempt follows: at least once, never lost.
        spdlog::warn("delivery: recording attempt results failed: {}", report.error().message);
        co_return;
    }
    log_results(results, report->states);
    count_outcomes(results, report->states, now);
    bool all_stored = true;
    for (std::size_t i = 0; i < bounce_ids.size(); ++i) {
        if (report->reports_stored[i]) {
            spdlog::info("delivery: bounce queued as {}", bounce_ids[i]);
        } else {
            all_stored = false;
        }
    }
    // The reports that waited for other domain batches, if this batch was the last.
    std::set<const queue::ClaimedMessage*> waiting;
    for (std::size_t i = 0; i < recorded.size() && i < report->states.size(); ++i)
        if (recorded[i].pending_report && report->states[i] != RecipientState::lease_lost)
            waiting.insert(results[i].message);
    for (const auto* message : waiting) {
        auto sent = co_await recorder.pending_reports.send_if_complete(message->id, now);
        // The sweep sends it later: the lines stay stored.
        if (!sent)
            spdlog::warn("delivery: report for message {} not sent yet: {}", message->id,
                         sent.error().message);
    }
    if (!all_stored) {
        for (std::size_t i = 0; i < recorded.size() && i < report->states.size(); ++i)
            recorded[i].state = report->states[i];
        co_await report_lost_leases(recorder, results, recorded, now);
    }
}

}  // namespace smarthost::delivery
