// Settling a claim: what each attempt result leaves its recipient in (settle: the retry
// schedule decides between deferred and expired), written with its events, suppressions
// and bounce reports in one transaction, only while the lease holds (Claims::record).
// Claiming, leases and releases are in claims.cpp.
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "relay/events/outbox.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/failure_category.hpp"
#include "relay/queue/recipient_locks.hpp"
#include "relay/smtp/address.hpp"

namespace smarthost::queue {

namespace asio = boost::asio;

namespace {

// The webhook event of a result (message.delivered, .deferred, .bounced, .expired):
// written with it, only for a row updated and an endpoint that wants it (outbox.hpp).
constexpr const char* k_webhook_source = R"sql(
SELECT 'message.' || $3::text, m.account_id,
       jsonb_build_object('message_id', replace(m.id::text, '-', ''), 'recipient', u.address,
                          'sender', m.envelope_sender, 'header_message_id', m.header_message_id,
                          'state', $3::text, 'reply', left(nullif($4, ''), 2000),
                          'remote_host', nullif($6, ''), 'remote_ip', nullif($7, ''),
                          'attempts', u.attempts,
                          'next_attempt_at', CASE WHEN $3 = 'deferred' THEN u.next_attempt_at END)
FROM updated u JOIN messages m ON m.id = u.message_id)sql";

// One result: the recipient row if still ours, then its events, for a hard bounce the
// suppression, and its webhook event — all only if the row was updated. $11 is the
// failure category (failure_category.hpp), empty when delivered. $10 is the
// recipient's canonical address (smtp::canonical_address), the form every suppression
// lookup uses. $12: a delay warning goes out with this attempt (Settlement::warn_delay).
// $13-$16: the recipient's line of a report that waits for other domain batches
// (Settlement::pending_report), all NULL when none. Returns 1 or 0 rows updated.
const std::string k_record = R"sql(
WITH updated AS (
    UPDATE recipients
    SET state = $3, last_reply = nullif($4, ''),
        next_attempt_at = coalesce('epoch'::timestamptz + $5::bigint * interval '1 microsecond',
                                   next_attempt_at),
        delay_warned = delay_warned OR $12::boolean,
        pending_report = CASE WHEN $13::text IS NULL THEN pending_report
                              ELSE jsonb_build_object('action', $13::text, 'status', $14::text,
                                                      'remote_mta', $15::text,
                                                      'diagnostic', $16::text) END,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = $1 AND lease_owner = $2 AND state = 'in_flight'
    RETURNING id, message_id, address, attempts, next_attempt_at
), event AS (
    INSERT INTO events (message_id, recipient_id, kind, remote_host, remote_ip, tls_version,
                        reply, category)
    SELECT u.message_id, u.id, k.kind, nullif($6, ''), nullif($7, '')::inet, nullif($8, ''),
           nullif($4, ''), nullif($11, '')
    FROM updated u CROSS JOIN (VALUES (1, 'attempt'), (2, $3)) AS k (position, kind)
    ORDER BY k.position
), suppression AS (
    INSERT INTO suppressions (account_id, address, reason, last_reply)
    SELECT m.account_id, lower($10), 'hard_bounce', nullif($4, '')
    FROM updated u JOIN messages m ON m.id = u.message_id
    WHERE $9::boolean
    ON CONFLICT (account_id, address) DO NOTHING
), )sql" + events::outbox_ctes("webhook", k_webhook_source) +
                             "\nSELECT count(*) FROM updated";

constexpr int k_record_retries = 3;

std::int64_t micros_since_epoch(TimePoint when) {
    return std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
}

bool is_hard_bounce(const AttemptResult& result) {
    // RFC 3463: 5.1.x are addressing failures (no such user, bad domain): permanent.
    return result.verdict == Verdict::permanent && result.reply.status().starts_with("5.1.");
}

}  // namespace

const char* state_name(RecipientState state) {
    switch (state) {
        case RecipientState::delivered:
            return "delivered";
        case RecipientState::deferred:
            return "deferred";
        case RecipientState::bounced:
            return "bounced";
        case RecipientState::expired:
            return "expired";
        case RecipientState::lease_lost:
            break;
    }
    return "lease_lost";
}

std::vector<Settlement> settle(const std::vector<AttemptResult>& results, RetrySchedule& schedule,
                               TimePoint now) {
    std::vector<Settlement> settlements;
    settlements.reserve(results.size());
    for (const AttemptResult& result : results) {
        Settlement settlement;
        switch (result.verdict) {
            case Verdict::delivered:
                settlement.state = RecipientState::delivered;
                break;
            case Verdict::permanent:
                settlement.state = RecipientState::bounced;
                break;
            case Verdict::temporary: {
                const auto decision = schedule.after_temporary_failure(
                    result.message->received_at, result.recipient->attempts, now);
                settlement.state =
                    decision.expire ? RecipientState::expired : RecipientState::deferred;
                if (decision.expire) break;
                settlement.next_attempt_at = decision.next_attempt_at;
                settlement.warn_delay = schedule.warn_delay(result.message->received_at,
                                                            result.recipient->delay_warned, now);
                settlement.retry_until = schedule.retry_until(result.message->received_at);
                break;
            }
        }
        settlements.push_back(settlement);
    }
    return settlements;
}

asio::awaitable<Result<RecordReport>> Claims::record(std::string owner,
                                                     const std::vector<AttemptResult>& results,
                                                     std::vector<Settlement> settlements,
                                                     std::vector<QueuedReport> reports) {
    RecordReport report;
    if (results.empty()) co_return report;
    if (settlements.size() != results.size())
        co_return Error{"record: one settlement per attempt result is needed", {}, false};
    std::vector<pg::Statement> statements;
    statements.reserve(results.size() + reports.size() + 2);
    std::vector<std::int64_t> ids;
    for (const AttemptResult& result : results)
        ids.push_back(result.recipient->id);
    statements.push_back(pg::Statement{k_lock_recipients, {pg::text(id_array(ids))}});
    for (std::size_t i = 0; i < results.size(); ++i) {
        const AttemptResult& result = results[i];
        const Settlement& settlement = settlements[i];
        const bool hard_bounce = is_hard_bounce(result);
        pg::Param next_attempt = pg::null_param();
        if (settlement.next_attempt_at)
            next_attempt = pg::to_param(micros_since_epoch(*settlement.next_attempt_at));
        statements.push_back(pg::Statement{
            k_record,
            {
                pg::to_param(result.recipient->id),
                pg::text(owner),
                pg::text(state_name(settlement.state)),
                pg::text(result.reply.summary()),
                std::move(next_attempt),
                pg::text(result.peer.host),
                pg::text(result.peer.ip),
                pg::text(result.peer.tls_version),
                pg::to_param(hard_bounce),
                pg::text(hard_bounce ? smtp::canonical_address(result.recipient->address)
                                     : std::string()),
                pg::text(std::string(failure_category_name(classify_failure(result)))),
                pg::to_param(settlement.warn_delay),
            }});
        auto& params = statements.back().params;
        if (const auto& line = settlement.pending_report) {
            params.push_back(pg::text(line->action));
            params.push_back(pg::text(line->status));
            params.push_back(pg::text(line->remote_mta));
            params.push_back(pg::text(line->diagnostic));
        } else {
            for (int i = 0; i < 4; ++i)
                params.push_back(pg::null_param());
        }
    }
    for (const QueuedReport& queued : reports)
        statements.push_back(insert_message_statement(queued.message, &queued.reported_recipients));
    if (!reports.empty()) statements.push_back(notify_queue_statement());
    // The attempts happened: recording them must not give up on a transient conflict,
    // or the leases run out and the messages go out a second time. A transaction that
    // PostgreSQL aborted left nothing behind, so it is simply run again.
    auto written = co_await pool_.transaction(statements);
    for (int retry = 0; retry < k_record_retries && !written &&
                        pg::classify(written.error().code) == pg::SqlStateClass::rolled_back;
         ++retry)
        written = co_await pool_.transaction(statements);
    if (!written) co_return written.error();
    for (std::size_t i = 0; i < results.size(); ++i) {
        const bool updated = (*written)[1 + i].get_int(0, 0) == 1;
        report.states.push_back(updated ? settlements[i].state : RecipientState::lease_lost);
        if (updated) ++report.updated;
    }
    for (std::size_t i = 0; i < reports.size(); ++i)
        report.reports_stored.push_back((*written)[1 + results.size() + i].affected() > 0);
    co_return report;
}

}  // namespace smarthost::queue
