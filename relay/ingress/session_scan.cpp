// Content scanning at the final dot (docs/scanning.md): what the session asks of rspamd
// before the message is signed and committed, and the refusal of a rejected message.
#include <spdlog/spdlog.h>

#include "relay/ingress/session_class.hpp"
#include "relay/policy/rejection_log.hpp"
#include "relay/policy/submission_policy.hpp"
#include "relay/smtp/reply.hpp"

namespace smarthost::ingress::detail {

namespace {

policy::ScanEnvelope scan_envelope(const Identity& identity, const std::string& client_ip,
                                   const std::string& helo, const smtp::Envelope& envelope,
                                   const std::string& queue_id) {
    policy::ScanEnvelope scan;
    scan.user = identity.username;
    scan.client_ip = client_ip;
    scan.helo = helo;
    scan.sender = envelope.sender;
    for (const auto& recipient : envelope.recipients)
        scan.recipients.push_back(recipient.address);
    scan.queue_id = queue_id;
    return scan;
}

}  // namespace

asio::awaitable<policy::ScanVerdict> Session::scan_body() {
    policy::ScanVerdict verdict;
    if (!services_.scanner.configured()) co_return verdict;
    const auto policy = co_await services_.policy.account(identity_->account_id);
    // An unreadable policy fails the signing step next, which refuses the message.
    if (!policy || !services_.scanner.scans(**policy)) co_return verdict;
    const auto envelope =
        scan_envelope(*identity_, client_ip_, machine_->helo(), machine_->envelope(), message_id_);
    verdict = co_await services_.scanner.scan(**policy, envelope, body_);
    if (!verdict.answer) {
        spdlog::warn("message not scanned id={} account={}: rspamd failed ({}), accepted unscanned",
                     message_id_, identity_->account_name, policy::to_string(verdict.failure));
        co_return verdict;
    }
    if (verdict.action == policy::ScanAction::add_header ||
        verdict.action == policy::ScanAction::hold) {
        const auto fields =
            policy::spam_header_fields(*verdict.answer, verdict.action, verdict.thresholds);
        body_.insert(0, fields);
        prefix_size_ += fields.size();
    }
    co_return verdict;
}

smtp::Action Session::refuse_scanned(const policy::ScanVerdict& verdict) {
    spdlog::info("content rejected id={} listener={} client={} account={} score={:.2f}",
                 message_id_, listener_.name, client_ip_, identity_->account_name,
                 verdict.answer ? verdict.answer->score : 0.0);
    // By credential and sub-user: the anomaly rule scan_rejects holds the smallest unit.
    services_.rejections.record(
        identity_->account_id, std::string(smtp::refusal_name(smtp::Refusal::content_scan)),
        {identity_->credential_id,
         sub_user_.empty() ? std::nullopt : std::optional<std::string>(sub_user_)});
    auto action = machine_->on_not_queued(smtp::reply::content_rejected());
    action.refusal = smtp::Refusal::content_scan;
    return action;
}

}  // namespace smarthost::ingress::detail
