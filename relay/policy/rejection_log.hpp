#pragma once
// Writes refusals that happen outside a transaction (at connect, at AUTH, rspamd's at the
// final dot) to the `rejections` table without making the refused client wait for the
// insert.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

// Who within the account a refused message came from, where the refusal knows it: the
// anomaly rule scan_rejects counts rspamd's refusals per credential and sub-user.
struct RefusedSender {
    std::optional<std::int64_t> credential_id;  // empty: an allow-listed network
    std::optional<std::string> sub_user;        // empty: no trusted sub-user header
};

class RejectionLog {
  public:
    // Most inserts in flight at once: a flood of refused connections (a botnet listed in
    // a DNSBL) must not take the pool from the sessions that send mail. Refusals beyond
    // it are logged, not stored.
    static constexpr std::size_t k_max_in_flight = 16;

    // The pool must outlive every insert started (it outlives the I/O loop in serve).
    RejectionLog(boost::asio::any_io_executor executor, pg::Pool& pool);

    const boost::asio::any_io_executor& executor() const { return executor_; }

    // Starts the insert of one row (account NULL when the client is not identified; the
    // sender's credential and sub-user when given) and returns at once. `reason` is a
    // rejections reason token.
    void record(std::optional<std::int64_t> account_id, std::string reason,
                RefusedSender sender = {});

  private:
    boost::asio::any_io_executor executor_;
    pg::Pool& pool_;
    std::shared_ptr<std::size_t> in_flight_;  // shared with the inserts running
};

}  // namespace smarthost::policy
