#pragma once
// Whether a key's public half is published: the TXT record at
// <selector>._domainkey.<domain> (RFC 6376 section 3.6.2.1) looked up and its p= compared
// with the stored key. Keys that are not retired are re-checked periodically, so
// `dkim_policy = "verified"` signs only with keys a receiver can verify.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "relay/dkim/key_store.hpp"
#include "relay/dns/answers.hpp"

namespace smarthost::pg {
class Pool;
}
namespace smarthost::dns {
class Resolver;
}

namespace smarthost::dkim {

// The status a lookup gives, nullopt when it was inconclusive (SERVFAIL, timeout: an
// outage of the customer's DNS changes nothing). `records` are the TXT records, each one's
// character-strings joined. One whose p= is `public_key` → published; records none of
// which has it (another key, a revoked empty p=) → mismatch; no record → missing.
std::optional<DnsStatus> status_after_lookup(dns::AnswerStatus answer,
                                             const std::vector<std::string>& records,
                                             std::string_view public_key);

struct KeyCheck {
    std::int64_t key_id = 0;
    std::string record_name;
    DnsStatus status = DnsStatus::unchecked;  // after the check
    bool conclusive = true;                   // false: the DNS did not answer; unchanged
    std::string detail;                       // what the DNS said, for logs and the API
};

class KeyRecordChecker {
  public:
    using Clock = std::chrono::system_clock;
    struct Settings {
        std::chrono::seconds interval{900};  // re-check each key this often
        std::size_t batch = 100;             // keys claimed per round
    };

    // The pool, the resolver and the callers run on `executor` (see pg::Pool). `now` is
    // the clock of every stored time (tests pin it).
    KeyRecordChecker(
        boost::asio::any_io_executor executor, pg::Pool& pool, dns::Resolver& resolver,
        Settings settings, std::function<Clock::time_point()> now = [] { return Clock::now(); });
    ~KeyRecordChecker();
    KeyRecordChecker(const KeyRecordChecker&) = delete;
    KeyRecordChecker& operator=(const KeyRecordChecker&) = delete;

    // Checks one key now (verify-now) and stores the outcome; nullopt: no such key.
    boost::asio::awaitable<Result<std::optional<KeyCheck>>> check(std::int64_t key_id);

    // One round: claims up to `batch` keys that are not retired and not checked for
    // `interval` (never-checked first; SKIP LOCKED, so replicas share the work).
    boost::asio::awaitable<Result<std::vector<KeyCheck>>> check_due();

    // Runs check_due() at least once a minute (or every `interval` when shorter) until stop().
    void start();
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::dkim
