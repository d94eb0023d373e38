#include "relay/ingress/bounce_report.hpp"

#include "relay/delivery/dsn_message.hpp"

namespace smarthost::ingress {

std::optional<queue::NewMessage> bounce_report(const queue::NewMessage& original,
                                               const std::string& reporting_host,
                                               std::chrono::system_clock::time_point now) {
    const auto& envelope = original.envelope;
    if (envelope.bounced.empty()) return std::nullopt;
    std::vector<delivery::DsnRecipient> failed;
    for (const auto& bounced : envelope.bounced) {
        delivery::DsnRecipient r;
        r.address = bounced.recipient.address;
        r.orcpt = bounced.recipient.orcpt;
        r.notify = bounced.recipient.notify;
        r.action = delivery::DsnAction::failed;
        r.diagnostic = bounced.reply;  // our own reply: no Remote-MTA
        r.last_attempt = now;
        failed.push_back(std::move(r));
    }
    delivery::DsnOriginal about;
    about.sender = envelope.sender;
    about.envid = envelope.envid;
    about.ret = envelope.ret;
    about.received_at = now;
    about.content = original.body;
    delivery::DsnSettings settings;
    settings.reporting_host = reporting_host;
    return delivery::dsn_message(settings, about, failed, original.account_id, now,
                                 queue::new_message_id());
}

}  // namespace smarthost::ingress
