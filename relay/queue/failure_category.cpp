#include "relay/queue/failure_category.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace smarthost::queue {
namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool mentions(const std::string& text, std::initializer_list<std::string_view> words) {
    return std::any_of(words.begin(), words.end(),
                       [&](std::string_view word) { return text.find(word) != std::string::npos; });
}

// "5.7.650" → subject 7, detail 650; the class is not needed: the verdict says it.
struct Status {
    int subject = -1;
    int detail = -1;
};

Status parse_status(std::string_view status) {
    Status parsed;
    const auto first = status.find('.');
    const auto second = status.find('.', first == std::string_view::npos ? 0 : first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) return parsed;
    try {
        parsed.subject = std::stoi(std::string(status.substr(first + 1, second - first - 1)));
        parsed.detail = std::stoi(std::string(status.substr(second + 1)));
    } catch (const std::exception&) {
        return Status{};
    }
    return parsed;
}

// Our own diagnoses: how delivery describes what happened before or around the SMTP
// conversation (client_machine.cpp, domain_delivery.cpp, relay/dns/mx_plan.cpp).
FailureCategory local_category(const AttemptResult& result, Status status,
                               const std::string& text) {
    if (mentions(text, {"timed out", "timeout"})) return FailureCategory::timeout;
    if (result.stage == Stage::starttls || status.subject == 7) return FailureCategory::tls;
    if (status.subject == 1) return FailureCategory::bad_domain;  // 5.1.2, 5.1.10 null MX
    if (status.subject == 4 && status.detail == 3) return FailureCategory::dns;
    if (status.subject == 4 && status.detail == 4) {
        // 5.4.4 unroutable (an MX host that does not resolve); 4.4.4 no usable MX now.
        return result.verdict == Verdict::permanent ? FailureCategory::bad_domain
                                                    : FailureCategory::connection;
    }
    if (status.subject == 4) return FailureCategory::connection;
    if (status.subject == 3 && status.detail == 4) return FailureCategory::message_size;
    return FailureCategory::other;
}

}  // namespace

std::string_view failure_category_name(FailureCategory category) {
    switch (category) {
        case FailureCategory::none:
            return "";
        case FailureCategory::bad_mailbox:
            return "bad_mailbox";
        case FailureCategory::bad_domain:
            return "bad_domain";
        case FailureCategory::mailbox_full:
            return "mailbox_full";
        case FailureCategory::message_size:
            return "message_size";
        case FailureCategory::rate_limited:
            return "rate_limited";
        case FailureCategory::reputation:
            return "reputation";
        case FailureCategory::authentication:
            return "authentication";
        case FailureCategory::spam_content:
            return "spam_content";
        case FailureCategory::policy:
            return "policy";
        case FailureCategory::dns:
            return "dns";
        case FailureCategory::tls:
            return "tls";
        case FailureCategory::connection:
            return "connection";
        case FailureCategory::timeout:
            return "timeout";
        case FailureCategory::other:
            break;
    }
    return "other";
}

FailureCategory classify_failure(const AttemptResult& result) {
    if (result.verdict == Verdict::delivered) return FailureCategory::none;
    const Status status = parse_status(result.reply.enhanced);
    const std::string text = lower(result.reply.summary());
    if (!result.remote) return local_category(result, status, text);

    // The receivers' own words first: their codes are reused for several causes.
    if (mentions(text, {"rate limit", "rate-limit", "ratelimit", "too many messages",
                        "too many connections", "throttl", "tss04", "4.7.28", "4.7.650"}) ||
        result.reply.code == 421 || (status.subject == 7 && status.detail == 28) ||
        (status.subject == 7 && status.detail >= 650 && status.detail <= 651))
        return FailureCategory::rate_limited;
    if (mentions(text,
                 {"blocked using", "blacklist", "blocklist", "listed at", "listed in", "listed on",
                  "spamhaus", "barracuda", "spamcop", "reputation", "banned sending ip", "rbl"}) ||
        (status.subject == 7 && status.detail >= 606 && status.detail <= 649))
        return FailureCategory::reputation;
    if (mentions(text, {"spf", "dkim", "dmarc", "unauthenticated", "not authenticated",
                        "reverse dns", "ptr record"}) ||
        (status.subject == 7 && status.detail >= 23 && status.detail <= 27) ||
        (status.subject == 7 && (status.detail == 509 || status.detail == 515)))
        return FailureCategory::authentication;
    if (mentions(text, {"spam", "unsolicited", "junk", "phish", "virus", "malware",
                        "content rejected", "message content"}))
        return FailureCategory::spam_content;
    if (mentions(text, {"quota", "mailbox full", "mailbox is full", "over quota",
                        "insufficient storage"}) ||
        (status.subject == 2 && status.detail == 2))
        return FailureCategory::mailbox_full;
    if ((status.subject == 3 && status.detail == 4) || (status.subject == 2 && status.detail == 3))
        return FailureCategory::message_size;
    if ((status.subject == 1 && (status.detail == 1 || status.detail == 6)) ||
        (status.subject < 0 && result.reply.code == 550 &&
         mentions(text, {"user unknown", "no such user", "unknown user", "does not exist",
                         "recipient rejected", "mailbox unavailable", "address rejected"})))
        return FailureCategory::bad_mailbox;
    if (status.subject == 1 && (status.detail == 2 || status.detail == 10))
        return FailureCategory::bad_domain;
    if (status.subject == 7) return FailureCategory::policy;
    if (status.subject == 4 && status.detail == 7) return FailureCategory::timeout;
    return FailureCategory::other;
}

}  // namespace smarthost::queue
