#pragma once
// How a message accepted on a session becomes the message stored: the trace fields put
// in front of its data section, and the queue::NewMessage with its owner, its envelope and
// the delivery report for recipients bounced at submission. Pure: the clock is given.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/policy/content_scan.hpp"
#include "relay/queue/new_message.hpp"
#include "relay/smtp/envelope.hpp"

namespace smarthost::ingress {

// Who sent the message, from where, and how.
struct MessageOrigin {
    std::int64_t account_id = 0;
    std::optional<std::int64_t> credential_id;  // empty for allow-listed networks
    std::string client_ip;
    std::string helo;
    std::string protocol;     // RFC 3848: ESMTPSA, ...
    std::string tls_version;  // empty without TLS
    std::string tls_cipher;
};

// The Received: field of message `id` and, when the client or the sender domain is listed
// by a tag-action DNSBL zone ("zone=answer, ..." each), X-Smarthost-DNSBL.
std::string trace_fields(const MessageOrigin& origin, const smtp::Envelope& envelope,
                         std::string_view by_hostname, const std::string& id,
                         std::string_view client_tags, std::string_view sender_domain_tags,
                         std::string date);

// The message to store: `body` is the trace fields (its first `prefix_size` octets), then
// the data section as received.
queue::NewMessage assemble_message(const MessageOrigin& origin, smtp::Envelope envelope,
                                   std::string id, std::string body, std::size_t prefix_size,
                                   std::string_view reporting_host,
                                   std::chrono::system_clock::time_point now);

// The content scan's result on the message to store: its row's scan columns, and for a
// held message its recipients 'held' with the reason (docs/scanning.md).
void record_scan(const policy::ScanVerdict& verdict, queue::NewMessage& message);

}  // namespace smarthost::ingress
