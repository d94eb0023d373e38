#include "relay/delivery/attempt_recording.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "relay/delivery/bounce_reports.hpp"
#include "relay/delivery/delivery_metrics.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/group_commit.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using queue::ClaimedMessage;
using queue::TimePoint;

// Some recipients of a report were taken over by another worker (their lease ran
// out), so the report was not stored with the outcomes: report what this worker did
// record, on its own.
asio::awaitable<void> report_lost_leases(AttemptRecorder recorder,
                                         const std::vector<const ClaimedMessage*>& part,
                                         const std::vector<RecipientAttempt>& attempts,
                                         const std::vector<queue::RecordedState>& states,
                                         TimePoint now) {
    std::vector<const ClaimedMessage*> affected;
    std::size_t k = 0;
    for (const auto* message : part) {
        bool lost = false;
        for (std::size_t r = 0; r < message->recipients.size() && k < states.size(); ++r, ++k)
            lost |= states[k] == queue::RecordedState::lease_lost;
        if (lost) affected.push_back(message);
    }
    const DsnSettings dsn_settings{recorder.hostname};
    for (auto& bounce : bounce_reports(dsn_settings, affected, attempts, states, now)) {
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

void log_outcomes(const std::vector<const ClaimedMessage*>& part,
                  const std::vector<RecipientAttempt>& attempts,
                  const std::vector<queue::RecordedState>& states) {
    std::size_t k = 0;
    for (const auto* message : part) {
        for (const auto& recipient : message->recipients) {
            if (k >= attempts.size() || k >= states.size()) return;
            const auto& o = attempts[k].outcome;
            spdlog::info("delivery: {} to=<{}> {} relay={}[{}] tls={} attempts={} reply=\"{}\"",
                         message->id, recipient.address, queue::state_name(states[k]),
                         o.remote_host.empty() ? "none" : o.remote_host, o.remote_ip,
                         o.tls_version.empty() ? "none" : o.tls_version, o.attempts, o.reply);
            ++k;
        }
    }
}

}  // namespace

asio::awaitable<void> record_attempts(AttemptRecorder recorder,
                                      const std::vector<const ClaimedMessage*>& part,
                                      std::vector<RecipientAttempt> attempts) {
    auto& claims = recorder.claims;
    std::vector<queue::Outcome> outcomes;
    outcomes.reserve(attempts.size());
    for (const auto& attempt : attempts)
        outcomes.push_back(attempt.outcome);
    const auto now = std::chrono::system_clock::now();
    auto planned = claims.plan(outcomes, now);
    std::vector<queue::RecordedState> planned_states;
    for (const auto& p : planned)
        planned_states.push_back(p.state);
    const DsnSettings dsn_settings{recorder.hostname};
    auto bounces = bounce_reports(dsn_settings, part, attempts, planned_states, now);
    std::vector<std::string> bounce_ids;
    for (const auto& bounce : bounces)
        bounce_ids.push_back(bounce.message.id);
    auto report = co_await claims.record(recorder.owner, std::move(outcomes), std::move(planned),
                                         std::move(bounces));
    if (!report) {
        // The leases run out and another attempt follows: at least once, never lost.
        spdlog::warn("delivery: recording outcomes failed: {}", report.error().message);
        co_return;
    }
    log_outcomes(part, attempts, report->states);
    count_outcomes(part, report->states, now);
    bool all_stored = true;
    for (std::size_t i = 0; i < bounce_ids.size(); ++i) {
        if (report->reports_stored[i]) {
            spdlog::info("delivery: bounce queued as {}", bounce_ids[i]);
        } else {
            all_stored = false;
        }
    }
    if (!all_stored) co_await report_lost_leases(recorder, part, attempts, report->states, now);
}

}  // namespace smarthost::delivery
