#include "relay/ingress/bounce_report.hpp"

#include "relay/delivery/dsn.hpp"

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
    const std::string id = queue::new_message_id();
    delivery::DsnSettings settings;
    settings.reporting_host = reporting_host;
    auto dsn = delivery::build_dsn(settings, about, failed, now, id);
    if (!dsn) return std::nullopt;
    queue::NewMessage report;
    report.id = id;
    report.account_id = original.account_id;
    // Made here, not received: the loopback address and our own name stand for the client.
    report.client_ip = "127.0.0.1";
    report.client_helo = reporting_host;
    report.envelope = std::move(dsn->envelope);
    report.body = std::move(dsn->content);
    report.header_message_id = dsn->message_id;
    return report;
}

}  // namespace smarthost::ingress
