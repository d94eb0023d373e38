#include "relay/policy/content_scanner.hpp"

#include "core/config.hpp"
#include "core/metrics/metrics.hpp"

namespace smarthost::policy {

ContentScanner::ContentScanner(const ScanningConfig& config)
    : configured_(config.enabled()),
      default_enabled_(config.default_enabled),
      max_message_bytes_(config.max_message_bytes),
      defaults_{config.add_header_score, config.hold_score, config.reject_score},
      client_(RspamdClient::Settings{config.host, config.port, config.target, config.timeout,
                                     config.max_answer_bytes}) {}

bool ContentScanner::scans(const AccountPolicy& policy) const {
    return configured_ && policy.scan_enabled.value_or(default_enabled_);
}

boost::asio::awaitable<ScanVerdict> ContentScanner::scan(const AccountPolicy& policy,
                                                         const ScanEnvelope& envelope,
                                                         std::string_view message) const {
    auto& metrics = metrics::global();
    ScanVerdict verdict;
    verdict.thresholds = merge_thresholds(policy.scan_thresholds, defaults_);
    if (message.size() > max_message_bytes_) {
        metrics.scans_skipped.Add({{"reason", "message_size"}}).Increment();
        co_return verdict;
    }
    RspamdReply reply;
    {
        const metrics::Stopwatch stopwatch(metrics.scan_duration);
        reply = co_await client_.check(envelope, message);
    }
    if (!reply.answer) {
        verdict.failure = reply.failure;
        metrics.scan_failures.Add({{"reason", to_string(reply.failure)}}).Increment();
        co_return verdict;
    }
    verdict.action = decide(reply.answer->score, verdict.thresholds);
    verdict.answer = std::move(reply.answer);
    metrics.scan_results.Add({{"action", to_string(verdict.action)}}).Increment();
    co_return verdict;
}

}  // namespace smarthost::policy
