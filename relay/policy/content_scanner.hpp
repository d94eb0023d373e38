#pragma once
// Content scanning at the final dot (docs/scanning.md): whether an account's message is
// scanned, the scan through rspamd, and the action its score earns, counted in the
// metrics. Fail-open: when rspamd is slow, down or answers garbage, the message is
// accepted unscanned and smarthost_scan_failures_total{reason} counts it.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string_view>

#include "relay/policy/account_policy.hpp"
#include "relay/policy/content_scan.hpp"
#include "relay/policy/rspamd_client.hpp"

namespace smarthost {
struct ScanningConfig;
}

namespace smarthost::policy {

class ContentScanner {
  public:
    explicit ContentScanner(const ScanningConfig& config);

    // Whether [scanning] rspamd_url is set: when not, nothing is scanned and the session
    // does not even look at the account's setting.
    bool configured() const { return configured_; }

    // Whether the account's mail is scanned: [scanning] rspamd_url is set and the
    // account's own setting (or default_enabled) says so.
    bool scans(const AccountPolicy& policy) const;

    // `message` is the message as it would be stored; alive until the call returns.
    boost::asio::awaitable<ScanVerdict> scan(const AccountPolicy& policy,
                                             const ScanEnvelope& envelope,
                                             std::string_view message) const;

  private:
    bool configured_;
    bool default_enabled_;
    std::uint64_t max_message_bytes_;
    ScanThresholds defaults_;
    RspamdClient client_;
};

}  // namespace smarthost::policy
