#pragma once
// The trace header the relay prepends to every accepted message (RFC 5321 section 4.4).

#include <cstdint>
#include <string>

namespace smarthost::smtp {

struct ReceivedFields {
    std::string helo;         // what the client said in EHLO/HELO
    std::string client_ip;    // textual address of the client
    std::string by_hostname;  // our host name
    std::string protocol;     // RFC 3848 "with" value: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA
    std::string tls_version;  // "TLSv1.3", empty without TLS
    std::string tls_cipher;   // empty without TLS
    std::string queue_id;
    std::string single_recipient;  // "for <addr>" only when the message has one recipient
    std::string date;              // RFC 5322 date-time, e.g. "Tue, 24 Nov 2026 10:00:00 +0000"
};

// The complete header field, folded, ending with CRLF.
std::string received_header(const ReceivedFields& fields);

// The current time as an RFC 5322 date-time in UTC.
std::string rfc5322_date_now();
// A Unix time as an RFC 5322 date-time in UTC: "Tue, 24 Nov 2026 10:00:00 +0000".
std::string rfc5322_date(std::int64_t unix_seconds);

}  // namespace smarthost::smtp
