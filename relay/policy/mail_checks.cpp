#include "relay/policy/mail_checks.hpp"

namespace smarthost::policy {

boost::asio::awaitable<MailCheck> check_mail(SubmissionPolicy& policy, Blocklists& blocklists,
                                             RejectionLog& rejections, MailClient client,
                                             smtp::PolicyQuery query, std::string_view message) {
    using smtp::PolicyVerdict;
    MailCheck check;
    const bool at_mail = query.stage == smtp::PolicyStage::sender;
    if (at_mail) {
        if (const auto* hit = client.listing.strongest()) {
            if (auto refusal = client_refusal_at_mail(*hit, client.ip)) {
                check.verdict = PolicyVerdict::refuse(std::move(*refusal), smtp::Refusal::dnsbl);
                rejections.record(client.account_id, check.verdict.rejection_row());
                co_return check;
            }
        }
    }
    // The account's policy records its own refusals.
    auto judgement =
        co_await policy.check(Submitter{client.account_id, client.credential_id}, query, message);
    check.verdict = std::move(judgement.verdict);
    check.sub_user = std::move(judgement.sub_user);
    check.strip_header = std::move(judgement.strip_header);
    if (check.verdict.refused() || !at_mail || !blocklists.checks_sender_domains()) co_return check;
    const auto at = query.address.rfind('@');
    if (at == std::string::npos) co_return check;  // the null sender
    const std::string domain = query.address.substr(at + 1);
    auto listing = co_await blocklists.check_sender_domain(domain);
    const auto* hit = listing.strongest();
    if (!hit) co_return check;
    if (auto refusal = sender_domain_refusal(*hit, domain)) {
        check.verdict = PolicyVerdict::refuse(std::move(*refusal), smtp::Refusal::domain_blocklist);
        rejections.record(client.account_id, check.verdict.rejection_row());
        co_return check;
    }
    check.sender_domain_tags = listing.tag_summary();
    co_return check;
}

}  // namespace smarthost::policy
