#pragma once
// Delivery claims (DESIGN.md contract 4, at-least-once): a worker leases due recipients
// in batches grouped by destination domain, records each attempt's outcome while it still
// holds the lease, and gives back what it did not finish. Any number of workers in any
// number of processes may claim from one database: FOR UPDATE SKIP LOCKED keeps their
// batches disjoint, and a crashed worker's recipients are claimed again once the lease
// has run out. claims.cpp claims, extends and releases; settle.cpp settles and records
// the attempt results.
//
// New mail is announced on the 'smarthost_queue' channel (pg_notify at enqueue); the
// pool does not deliver notifications, so waking a scheduler on it needs a dedicated
// LISTEN connection outside this class.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "relay/queue/attempt_result.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/queue/retry_schedule.hpp"
#include "relay/smtp/envelope.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::queue {

using TimePoint = std::chrono::system_clock::time_point;

struct ClaimedRecipient {
    std::int64_t id = 0;
    std::string address;
    std::string notify;         // RFC 3461 NOTIFY as given, empty if absent
    std::string orcpt;          // RFC 3461 ORCPT as given, empty if absent
    int attempts = 0;           // including the attempt this claim is for
    bool delay_warned = false;  // a delay warning (NOTIFY=DELAY) went out for it already
};

struct ClaimedMessage {
    std::string id;  // 32 hex digits, as new_message_id()
    std::int64_t account_id = 0;
    std::string account_name;  // the `account` label of delivery metrics
    std::string sender;        // "" is the null sender
    // Shared by every domain group the message appears in; null if the body was purged.
    std::shared_ptr<const std::string> body;
    bool body_8bitmime = false;
    bool smtputf8 = false;
    smtp::DsnReturn ret = smtp::DsnReturn::unspecified;
    std::string envid;
    std::string header_message_id;
    TimePoint received_at;
    // It has recipients in other domains too, tried in other batches: its report lines
    // wait for them (PendingReportLine) so that it gets one report.
    bool other_domains = false;
    std::vector<ClaimedRecipient> recipients;  // of this domain only, by id
};

struct DomainBatch {
    std::string domain;
    std::vector<ClaimedMessage> messages;  // by message id
};

struct Claim {
    std::vector<DomainBatch> domains;  // by domain name
    std::size_t recipients = 0;
    std::size_t body_bytes = 0;     // of the bodies it brought, each counted once
    bool byte_cap_reached = false;  // due mail was left out for the byte cap only
    std::vector<std::int64_t> recipient_ids() const;
};

// What Claims::record did: each result's settlement, or lease_lost where another worker
// had taken the recipient over, and whether each report was stored.
struct RecordReport {
    std::size_t updated = 0;             // recipients still leased by the owner, now written
    std::vector<RecipientState> states;  // one per result, in order
    std::vector<bool> reports_stored;    // one per QueuedReport given to record()
};

// A delivery report (DSN) to queue together with the outcomes it reports on.
struct QueuedReport {
    NewMessage message;
    std::vector<std::int64_t> reported_recipients;
};

class Claims {
  public:
    // The pool must outlive this; all run on the pool's executor.
    explicit Claims(pg::Pool& pool);

    // Leases up to max_recipients due recipients — queued or deferred whose
    // next_attempt_at has come, and in_flight ones whose lease has expired — from at most
    // max_domains destination domains (those due longest first), in one statement. Each
    // claimed recipient is in_flight, leased by `owner` until now + lease, attempts + 1.
    // Their messages' bodies add up to at most max_body_bytes (size_bytes, each message
    // once), except that the first message is always claimed, so one bigger than the cap
    // is claimed alone. The bodies are fetched after the lease, in binary format; should
    // that fail, the recipients are released again.
    boost::asio::awaitable<Result<Claim>> claim(std::string owner, std::chrono::milliseconds lease,
                                                std::size_t max_recipients, std::size_t max_domains,
                                                std::size_t max_body_bytes);

    // Extends the lease of those of `ids` still leased by owner; returns how many.
    boost::asio::awaitable<Result<std::size_t>> extend_lease(std::string owner,
                                                             std::vector<std::int64_t> ids,
                                                             std::chrono::milliseconds lease);

    // Writes settled results (settle() below) in one transaction: recipient state and
    // last_reply, an 'attempt' event and one for the new state, a suppression for hard
    // bounces (5.1.x), and the reports — each stored (and announced) only if every
    // recipient it reports on was left bounced or expired, so a crash can never record a
    // bounce without its report, nor a recipient taken over by another worker be reported
    // twice. Only recipients still in_flight under `owner` are touched (a worker whose
    // lease was taken over must not overwrite the new owner's work): the others are
    // lease_lost. `results` must outlive the call.
    boost::asio::awaitable<Result<RecordReport>> record(std::string owner,
                                                        const std::vector<AttemptResult>& results,
                                                        std::vector<Settlement> settlements,
                                                        std::vector<QueuedReport> reports = {});

    // Gives back leased recipients without counting the attempt: queued again if never
    // attempted before, deferred otherwise, due as before. All of the owner's (shutdown),
    // or only `ids`. Returns how many.
    boost::asio::awaitable<Result<std::size_t>> release(std::string owner);
    boost::asio::awaitable<Result<std::size_t>> release(std::string owner,
                                                        std::vector<std::int64_t> ids);
    // Like release(owner, ids), but due again at `due_at`: for recipients a worker chose
    // not to attempt (docs/delivery.md "Traffic shaping per destination").
    boost::asio::awaitable<Result<std::size_t>> postpone(std::string owner,
                                                         std::vector<std::int64_t> ids,
                                                         TimePoint due_at);

  private:
    pg::Pool& pool_;
};

// What each result leaves its recipient in: delivered, bounced for a permanent failure,
// and for a temporary one deferred to the schedule's next attempt, or expired once the
// message has outlived the queue lifetime. Pure; results must point into a claim.
std::vector<Settlement> settle(const std::vector<AttemptResult>& results, RetrySchedule& schedule,
                               TimePoint now);

}  // namespace smarthost::queue
