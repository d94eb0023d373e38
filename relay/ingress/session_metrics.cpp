#include "relay/ingress/session_metrics.hpp"

#include "core/metrics/metrics.hpp"

namespace smarthost::ingress {

std::optional<std::string_view> rejection_reason(const smtp::Reply& reply) {
    if (reply.positive()) return std::nullopt;
    const std::string_view status = reply.enhanced;
    const int code = reply.code;
    if (code == 530) return "authentication_required";  // relaying without AUTH (contract 2)
    if (code == 501 && status == "5.1.7") return "bad_sender";
    if ((code == 501 && status == "5.1.3") || (code == 550 && status == "5.1.1"))
        return "bad_recipient";
    if (code == 552 && status == "5.3.4") return "message_too_big";
    if (code == 452 && status == "4.5.3") return "too_many_recipients";
    if (code == 554 && status == "5.6.0") return "malformed_data";
    if (code == 451 && status == "4.3.0") return "queue_unavailable";
    if (code == 452 && status == "4.3.1") return "insufficient_storage";
    // RFC 3463 X.7.X is security or policy status. Among mail refusals (45x, 55x) that is
    // the policy checks (sender domains, rate limits, DNSBL); AUTH's own X.7 replies (535,
    // 538, 454) and the 421s that close a connection are not mail refusals.
    const bool mail_refusal = (code >= 450 && code <= 452) || (code >= 550 && code <= 554);
    if (mail_refusal && (status.starts_with("4.7.") || status.starts_with("5.7."))) return "policy";
    return std::nullopt;
}

std::string_view rejection_label(smtp::Refusal reason) {
    switch (reason) {
        case smtp::Refusal::unavailable:
            return "queue_unavailable";
        case smtp::Refusal::message_size:
            return "message_too_big";
        case smtp::Refusal::recipients_per_message:
            return "too_many_recipients";
        case smtp::Refusal::suppressed:
            return "bad_recipient";
        case smtp::Refusal::content_scan:
            return "content_scan";
        default:
            return "policy";
    }
}

void count_rejection(const smtp::Action& action, const std::optional<Identity>& identity) {
    const auto reason = action.refusal != smtp::Refusal::none
                            ? std::optional(rejection_label(action.refusal))
                            : rejection_reason(action.reply);
    if (!reason) return;
    auto& m = metrics::global();
    m.messages_rejected.Add({{"reason", std::string(*reason)}}).Increment();
    if (identity)
        m.account_messages_rejected
            .Add({{"account", identity->account_name}, {"reason", std::string(*reason)}})
            .Increment();
}

void count_auth(const std::string& listener, smtp::AuthOutcome outcome) {
    const char* result = "temporary_failure";
    if (outcome == smtp::AuthOutcome::success) result = "success";
    if (outcome == smtp::AuthOutcome::invalid_credentials) result = "invalid_credentials";
    metrics::global().smtp_auth.Add({{"listener", listener}, {"result", result}}).Increment();
}

void count_auth_overloaded(const std::string& listener) {
    metrics::global().smtp_auth.Add({{"listener", listener}, {"result", "overloaded"}}).Increment();
}

void count_accepted(const Identity& identity, std::size_t recipients) {
    auto& m = metrics::global();
    m.messages_accepted.Add({{"account", identity.account_name}}).Increment();
    m.recipients_accepted.Add({{"account", identity.account_name}})
        .Increment(static_cast<double>(recipients));
    if (!identity.credential_id) return;
    // The credential's id, not its username: usernames are often mail addresses, which no
    // label carries (docs/metrics.md "Labels").
    const std::string credential = std::to_string(*identity.credential_id);
    m.credential_messages_accepted
        .Add({{"account", identity.account_name}, {"credential", credential}})
        .Increment();
    m.credential_recipients_accepted
        .Add({{"account", identity.account_name}, {"credential", credential}})
        .Increment(static_cast<double>(recipients));
}

}  // namespace smarthost::ingress
