#include "relay/delivery/cancel_report.hpp"

#include "relay/delivery/dsn_message.hpp"

namespace smarthost::delivery {

std::optional<CancelReport> cancel_report(const DsnSettings& settings,
                                          const CancelledMessage& message, TimePoint now,
                                          queue::MessageId id) {
    std::vector<DsnRecipient> failed;
    std::vector<std::int64_t> reported;
    for (const CancelledRecipient& recipient : message.recipients) {
        if (!notify_requests(recipient.notify, DsnAction::failed)) continue;
        DsnRecipient line;
        line.address = recipient.address;
        line.orcpt = recipient.orcpt;
        line.notify = recipient.notify;
        line.action = DsnAction::failed;
        line.diagnostic = k_cancelled_reply;
        line.last_attempt = now;
        failed.push_back(std::move(line));
        reported.push_back(recipient.id);
    }
    if (failed.empty()) return std::nullopt;
    DsnOriginal original;
    original.sender = message.sender;
    original.envid = message.envid;
    original.ret = message.ret;
    original.received_at = message.received_at;
    original.content = message.content;
    auto report = dsn_message(settings, original, failed, message.account_id, now, std::move(id));
    if (!report) return std::nullopt;
    return CancelReport{std::move(*report), std::move(reported)};
}

}  // namespace smarthost::delivery
