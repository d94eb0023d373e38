#include "relay/ingress/message_assembly.hpp"

#include "relay/ingress/bounce_report.hpp"
#include "relay/smtp/message_headers.hpp"
#include "relay/smtp/received_header.hpp"

namespace smarthost::ingress {

std::string trace_fields(const MessageOrigin& origin, const smtp::Envelope& envelope,
                         std::string_view by_hostname, const std::string& id,
                         std::string_view client_tags, std::string_view sender_domain_tags,
                         std::string date) {
    smtp::ReceivedFields received;
    received.helo = origin.helo;
    received.client_ip = origin.client_ip;
    received.by_hostname = std::string(by_hostname);
    received.protocol = origin.protocol;
    received.tls_version = origin.tls_version;
    received.tls_cipher = origin.tls_cipher;
    received.queue_id = id;
    if (envelope.recipients.size() == 1) received.single_recipient = envelope.recipients[0].address;
    received.date = std::move(date);
    std::string fields = smtp::received_header(received);
    std::string tags(client_tags);
    if (!tags.empty() && !sender_domain_tags.empty()) tags += ", ";
    tags += sender_domain_tags;
    if (!tags.empty()) fields += "X-Smarthost-DNSBL: " + tags + "\r\n";
    return fields;
}

queue::NewMessage assemble_message(const MessageOrigin& origin, smtp::Envelope envelope,
                                   std::string id, std::string body, std::size_t prefix_size,
                                   std::string_view reporting_host,
                                   std::chrono::system_clock::time_point now) {
    queue::NewMessage message;
    message.id = std::move(id);
    message.account_id = origin.account_id;
    message.credential_id = origin.credential_id;
    message.client_ip = origin.client_ip;
    message.client_helo = origin.helo;
    message.tls_version = origin.tls_version;
    message.envelope = std::move(envelope);
    message.header_message_id =
        smtp::header_message_id(std::string_view(body).substr(std::min(prefix_size, body.size())));
    message.body = std::move(body);
    if (auto report = bounce_report(message, std::string(reporting_host), now))
        message.reports.push_back(std::move(*report));
    return message;
}

void record_scan(const policy::ScanVerdict& verdict, queue::NewMessage& message) {
    if (!verdict.answer) return;
    message.scan =
        queue::NewMessage::ScanRecord{verdict.answer->score, policy::to_string(verdict.action),
                                      policy::symbols_json(*verdict.answer)};
    if (verdict.action != policy::ScanAction::hold) return;
    message.held_for_review = true;
    message.held_reason = policy::held_reason(*verdict.answer, verdict.thresholds);
}

}  // namespace smarthost::ingress
