#include "relay/delivery/bounce_reports.hpp"

#include <map>

#include "relay/delivery/dsn_message.hpp"

namespace smarthost::delivery {

namespace {

// RFC 3463 X.4.7: delivery time expired; persistent transient, so 4.4.7.
constexpr const char* k_expired_status = "4.4.7";

// A delivered recipient is reported only as relayed: to a next hop without DSN, and when
// its NOTIFY asks for SUCCESS (RFC 3461 4.1). A next hop with DSN got the NOTIFY itself.
bool reported(const queue::AttemptResult& result, queue::RecipientState state) {
    if (state == queue::RecipientState::bounced || state == queue::RecipientState::expired)
        return true;
    return state == queue::RecipientState::delivered && !result.peer.dsn &&
           notify_requests(result.recipient->notify, DsnAction::relayed);
}

DsnRecipient report_line(const queue::AttemptResult& result, queue::RecipientState state) {
    const auto& recipient = *result.recipient;
    DsnRecipient r;
    r.address = recipient.address;
    r.orcpt = recipient.orcpt;
    r.notify = recipient.notify;
    r.action = state == queue::RecipientState::delivered ? DsnAction::relayed : DsnAction::failed;
    r.status = state == queue::RecipientState::expired ? k_expired_status : result.reply.status();
    r.remote_mta = result.remote ? result.peer.host : "";
    r.diagnostic = result.remote ? result.reply.summary() : "";
    return r;
}

}  // namespace

std::vector<queue::QueuedReport> bounce_reports(const DsnSettings& settings,
                                                const std::vector<queue::AttemptResult>& results,
                                                const std::vector<queue::RecipientState>& states,
                                                TimePoint now) {
    // The failed recipients of each message, messages in order of first appearance.
    std::vector<const queue::ClaimedMessage*> messages;
    std::map<const queue::ClaimedMessage*, std::vector<std::size_t>> failed_of;
    for (std::size_t i = 0; i < results.size() && i < states.size(); ++i) {
        if (!reported(results[i], states[i])) continue;
        auto& failed = failed_of[results[i].message];
        if (failed.empty()) messages.push_back(results[i].message);
        failed.push_back(i);
    }

    std::vector<queue::QueuedReport> out;
    for (const auto* message : messages) {
        std::vector<DsnRecipient> failed;
        std::vector<std::int64_t> reported;
        for (const std::size_t i : failed_of[message]) {
            failed.push_back(report_line(results[i], states[i]));
            failed.back().last_attempt = now;
            reported.push_back(results[i].recipient->id);
        }
        DsnOriginal original;
        original.sender = message->sender;
        original.envid = message->envid;
        original.ret = message->ret;
        original.received_at = message->received_at;
        if (message->body) original.content = *message->body;
        auto report = dsn_message(settings, original, failed, message->account_id, now,
                                  queue::new_message_id());
        if (!report) continue;
        out.push_back(queue::QueuedReport{std::move(*report), std::move(reported)});
    }
    return out;
}

}  // namespace smarthost::delivery
