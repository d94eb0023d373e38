#pragma once
// Why a delivery attempt failed, in a few documented categories (docs/delivery.md "Failure
// categories"), so that an operator can tell "a receiver blocks our address" from "the
// customer mails dead addresses" without reading replies. Stored with the attempt's events
// and counted by smarthost_delivery_failures_total{category}. Pure.

#include <string_view>

#include "relay/queue/attempt_result.hpp"

namespace smarthost::queue {

enum class FailureCategory {
    none,          // delivered
    bad_mailbox,   // the recipient does not exist (x.1.1, "user unknown")
    bad_domain,    // the recipient's domain does not exist or takes no mail (x.1.2, null MX)
    mailbox_full,  // over quota (x.2.2)
    message_size,  // too large for the receiver (x.3.4, x.2.3)
    rate_limited,  // the receiver asks us to slow down (421, Gmail 4.7.28, Microsoft 4.7.650, Yahoo
                   // TSS04)
    reputation,    // our sending address is blocked or listed (DNSBL, Microsoft 5.7.606–649)
    authentication,  // SPF, DKIM, DMARC or reverse DNS not good enough (x.7.23–27,
                     // Microsoft 5.7.509/515)
    spam_content,    // the content was judged spam, phishing or a virus
    policy,          // any other refusal for policy (x.7.x)
    dns,             // our lookup of the destination failed (local x.4.3)
    tls,             // TLS could not be set up as required (x.7.4, x.7.5, x.7.10)
    connection,      // no connection, or it was lost (x.4.1, x.4.2, no usable MX)
    timeout,         // the receiver did not answer in time
    other,
};

// "bad_mailbox", ...; "" for none.
std::string_view failure_category_name(FailureCategory category);

FailureCategory classify_failure(const AttemptResult& result);

}  // namespace smarthost::queue
