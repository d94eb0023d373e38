#pragma once
// What one mail transaction collected between MAIL and the end of DATA.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace smarthost::smtp {

enum class BodyType { seven_bit, eight_bit_mime };
enum class DsnReturn { unspecified, full, headers };

struct Recipient {
    std::string address;  // as given, without angle brackets: local@domain
    std::string domain;   // lower-cased domain part
    std::string notify;   // RFC 3461 NOTIFY value as given (upper-cased), empty if absent
    std::string orcpt;    // RFC 3461 ORCPT value as given, empty if absent
};

// A recipient accepted only to be bounced at once (policy, e.g. a suppressed address in
// "bounce" mode): stored already final, with `reply` as its last reply, and reported to
// the sender in a DSN.
struct BouncedRecipient {
    Recipient recipient;
    std::string reply;  // "550 5.1.1 ..."
};

struct Envelope {
    std::string sender;                          // empty string: the null sender <>
    std::optional<std::uint64_t> declared_size;  // SIZE= (RFC 1870)
    BodyType body = BodyType::seven_bit;
    bool smtputf8 = false;
    DsnReturn ret = DsnReturn::unspecified;
    std::string envid;  // RFC 3461 ENVID, xtext-decoded
    std::vector<Recipient> recipients;
    std::vector<BouncedRecipient> bounced;  // not delivered; see BouncedRecipient
};

}  // namespace smarthost::smtp
