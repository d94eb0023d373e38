#include "relay/delivery/attempt_recording.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <set>
#include <utility>

#include "relay/delivery/bounce_reports.hpp"
#include "relay/delivery/delivery_metrics.hpp"
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
                                         const std::vector<RecipientState>& states, TimePoint now) {
    std::set<const queue::ClaimedMessage*> affected;
    for (std::size_t i = 0; i < results.size() && i < states.size(); ++i)
        if (states[i] == RecipientState::lease_lost) affected.insert(results[i].message);
    std::vector<AttemptResult> affected_results;
    std::vector<RecipientState> affected_states;
    for (std::size_t i = 0; i < results.size() && i < states.size(); ++i) {
        if (!affected.contains(results[i].message)) continue;
        affected_results.push_back(results[i]);
        affected_states.push_back(states[i]);
    }
    const DsnSettings dsn_settings{recorder.hostname};
    for (auto& bounce : bounce_reports(dsn_settings, affected_results, affected_states, now)) {
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

}  // namespace

asio::awaitable<void> record_attempts(AttemptRecorder recorder,
                                      std::vector<AttemptResult> results) {
    const auto now = std::chrono::system_clock::now();
    auto settlements = queue::settle(results, recorder.schedule, now);
    std::vector<RecipientState> settled_states;
    settled_states.reserve(settlements.size());
    for (const auto& settlement : settlements)
        settled_states.push_back(settlement.state);
    const DsnSettings dsn_settings{recorder.hostname};
    auto bounces = bounce_reports(dsn_settings, results, settled_states, now);
    std::vector<std::string> bounce_ids;
    for (const auto& bounce : bounces)
        bounce_ids.push_back(bounce.message.id);
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
    if (!all_stored) co_await report_lost_leases(recorder, results, report->states, now);
}

}  // namespace smarthost::delivery
