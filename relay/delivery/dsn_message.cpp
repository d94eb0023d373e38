#include "relay/delivery/dsn_message.hpp"

#include <utility>

namespace smarthost::delivery {

std::optional<queue::NewMessage> dsn_message(const DsnSettings& settings,
                                             const DsnOriginal& original,
                                             const std::vector<DsnRecipient>& recipients,
                                             std::int64_t account_id, TimePoint now,
                                             queue::MessageId id) {
    auto dsn = build_dsn(settings, original, recipients, now, id);
    if (!dsn) return std::nullopt;
    queue::NewMessage report;
    report.id = std::move(id);
    report.account_id = account_id;
    // Made here, not received: the loopback address and our own name stand for the client.
    report.client_ip = "127.0.0.1";
    report.client_helo = settings.reporting_host;
    report.envelope = std::move(dsn->envelope);
    report.body = std::move(dsn->content);
    report.header_message_id = std::move(dsn->message_id);
    return report;
}

}  // namespace smarthost::delivery
