#pragma once
// Domain ownership verification (docs/policy.md): a sender domain authorizes sending
// only once a DNS TXT record at <label>.<domain> carries exactly
// "smarthost-verification=<the domain's token>". Domains are re-checked periodically, so
// a record removed later takes the authorization away again.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "relay/dns/resolver.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

enum class DomainStatus { pending, verified, failed };
const char* to_string(DomainStatus status);
std::optional<DomainStatus> parse_domain_status(std::string_view text);

// "_smarthost" + "shop.example" → "_smarthost.shop.example".
std::string verification_record_name(std::string_view label, std::string_view domain);
// "smarthost-verification=<token>", what the customer publishes.
std::string verification_record_text(std::string_view token);
// Whether one of the TXT records is exactly the expected text (an empty token proves nothing).
bool proves_ownership(const std::vector<std::string>& txt_records, std::string_view token);

// The status after a lookup, or nullopt when the DNS gave no conclusive answer
// (SERVFAIL, timeout): an outage of the customer's DNS must not unverify its domain.
// Found → verified. Not found → a verified domain becomes failed (it was proven once and
// is no longer); pending and failed stay as they are.
std::optional<DomainStatus> status_after_lookup(DomainStatus current, dns::AnswerStatus answer,
                                                bool found);

struct VerificationResult {
    std::int64_t domain_id = 0;
    std::string domain;
    DomainStatus status = DomainStatus::pending;  // after the check
    bool conclusive = true;                       // false: the DNS did not answer; unchanged
};

class DomainVerifier {
  public:
    struct Settings {
        std::string label = "_smarthost";
        std::chrono::seconds interval{900};  // re-check each domain this often
        std::size_t batch = 100;             // domains claimed per round
    };

    // The pool, the resolver and the callers run on `executor` (see pg::Pool).
    DomainVerifier(boost::asio::any_io_executor executor, pg::Pool& pool, dns::Resolver& resolver,
                   Settings settings);
    ~DomainVerifier();
    DomainVerifier(const DomainVerifier&) = delete;
    DomainVerifier& operator=(const DomainVerifier&) = delete;

    // Checks one domain now ("verify now" in the admin API) and stores the outcome.
    // nullopt when there is no such domain; an Error when the database fails.
    boost::asio::awaitable<Result<std::optional<VerificationResult>>> verify(
        std::int64_t domain_id);

    // One round of the periodic re-check: claims up to `batch` domains not checked for
    // `interval` (never-checked ones first; SKIP LOCKED, so replicas share the work) and
    // checks them. Returns the results.
    boost::asio::awaitable<Result<std::vector<VerificationResult>>> verify_due();

    // Runs verify_due() at least once a minute (or every `interval` when shorter) until stop().
    void start();
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::policy
