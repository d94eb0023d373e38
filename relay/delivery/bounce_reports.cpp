#include "relay/delivery/bounce_reports.hpp"

#include <map>

#include "relay/delivery/dsn_message.hpp"

namespace smarthost::delivery {

namespace {

// RFC 3463 X.4.7: delivery time expired; persistent transient, so 4.4.7.
constexpr const char* k_expired_status = "4.4.7";

DsnRecipient report_line(const queue::ClaimedRecipient& recipient, const RecipientAttempt& attempt,
                         queue::RecordedState state) {
    DsnRecipient r;
    r.address = recipient.address;
    r.orcpt = recipient.orcpt;
    r.notify = recipient.notify;
    r.action = DsnAction::failed;
    r.status = state == queue::RecordedState::expired ? k_expired_status : attempt.outcome.status;
    r.remote_mta = attempt.from_remote ? attempt.outcome.remote_host : "";
    r.diagnostic = attempt.from_remote ? attempt.outcome.reply : "";
    return r;
}

}  // namespace

std::vector<queue::QueuedReport> bounce_reports(
    const DsnSettings& settings, const std::vector<const queue::ClaimedMessage*>& messages,
    const std::vector<RecipientAttempt>& attempts, const std::vector<queue::RecordedState>& states,
    TimePoint now) {
    std::map<std::int64_t, std::size_t> index_of;
    for (std::size_t i = 0; i < attempts.size() && i < states.size(); ++i)
        index_of[attempts[i].outcome.recipient_id] = i;

    std::vector<queue::QueuedReport> out;
    for (const auto* message : messages) {
        std::vector<DsnRecipient> failed;
        std::vector<std::int64_t> reported;
        for (const auto& recipient : message->recipients) {
            const auto found = index_of.find(recipient.id);
            if (found == index_of.end()) continue;
            const auto state = states[found->second];
            if (state != queue::RecordedState::bounced && state != queue::RecordedState::expired)
                continue;
            failed.push_back(report_line(recipient, attempts[found->second], state));
            failed.back().last_attempt = now;
            reported.push_back(recipient.id);
        }
        if (failed.empty()) continue;
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
