#include "relay/delivery/bounce_reports.hpp"

#include <map>
#include <optional>
#include <utility>

#include "relay/delivery/dsn_message.hpp"

namespace smarthost::delivery {

namespace {

// RFC 3463 X.4.7: delivery time expired; persistent transient, so 4.4.7.
constexpr const char* k_expired_status = "4.4.7";

// A delivered recipient is reported only as relayed: to a next hop without DSN, and when
// its NOTIFY asks for SUCCESS (RFC 3461 4.1). A next hop with DSN got the NOTIFY itself.
// A deferred one only with its delay warning, when NOTIFY asks for DELAY.
std::optional<DsnAction> reported_action(const queue::AttemptResult& result,
                                         const queue::Settlement& settlement) {
    const std::string& notify = result.recipient->notify;
    switch (settlement.state) {
        case queue::RecipientState::bounced:
        case queue::RecipientState::expired:
            return DsnAction::failed;
        case queue::RecipientState::delivered:
            if (!result.peer.dsn && notify_requests(notify, DsnAction::relayed))
                return DsnAction::relayed;
            return std::nullopt;
        case queue::RecipientState::deferred:
            if (settlement.warn_delay && notify_requests(notify, DsnAction::delayed))
                return DsnAction::delayed;
            return std::nullopt;
        case queue::RecipientState::lease_lost:
            break;
    }
    return std::nullopt;
}

DsnRecipient report_line(const queue::AttemptResult& result, const queue::Settlement& settlement,
                         DsnAction action) {
    const auto& recipient = *result.recipient;
    DsnRecipient r;
    r.address = recipient.address;
    r.orcpt = recipient.orcpt;
    r.notify = recipient.notify;
    r.action = action;
    r.status = settlement.state == queue::RecipientState::expired ? k_expired_status
                                                                  : result.reply.status();
    // A delay is temporary by definition, whatever the reply said (RFC 3464 2.3.4).
    if (action == DsnAction::delayed && !r.status.starts_with('4')) r.status = "4.0.0";
    r.remote_mta = result.remote ? result.peer.host : "";
    r.diagnostic = result.remote ? result.reply.summary() : "";
    if (action == DsnAction::delayed) r.will_retry_until = settlement.retry_until;
    return r;
}

}  // namespace

std::vector<queue::QueuedReport> bounce_reports(const DsnSettings& settings,
                                                const std::vector<queue::AttemptResult>& results,
                                                std::vector<queue::Settlement>& settlements,
                                                TimePoint now) {
    // The reported recipients of each message, messages in order of first appearance.
    std::vector<const queue::ClaimedMessage*> messages;
    std::map<const queue::ClaimedMessage*, std::vector<std::pair<std::size_t, DsnAction>>> lines_of;
    for (std::size_t i = 0; i < results.size() && i < settlements.size(); ++i) {
        const auto action = reported_action(results[i], settlements[i]);
        if (!action) continue;
        auto& lines = lines_of[results[i].message];
        if (lines.empty()) messages.push_back(results[i].message);
        lines.emplace_back(i, *action);
    }

    std::vector<queue::QueuedReport> out;
    for (const auto* message : messages) {
        if (message->other_domains) {
            // One report for the whole message: the lines wait in the queue for the other
            // domain batches (relay/delivery/pending_reports.hpp).
            if (message->sender.empty()) continue;  // RFC 3461 6.2
            for (const auto& [i, action] : lines_of[message]) {
                const DsnRecipient line = report_line(results[i], settlements[i], action);
                settlements[i].pending_report = queue::PendingReportLine{
                    action_name(action), line.status, line.remote_mta, line.diagnostic};
            }
            continue;
        }
        std::vector<DsnRecipient> lines;
        std::vector<std::int64_t> reported;
        for (const auto& [i, action] : lines_of[message]) {
            lines.push_back(report_line(results[i], settlements[i], action));
            lines.back().last_attempt = now;
            reported.push_back(results[i].recipient->id);
        }
        DsnOriginal original;
        original.sender = message->sender;
        original.envid = message->envid;
        original.ret = message->ret;
        original.received_at = message->received_at;
        if (message->body) original.content = *message->body;
        auto report = dsn_message(settings, original, lines, message->account_id, now,
                                  queue::new_message_id());
        if (!report) continue;
        out.push_back(queue::QueuedReport{std::move(*report), std::move(reported)});
    }
    return out;
}

}  // namespace smarthost::delivery
