#include "relay/queue/holds.hpp"

#include <string>

#include "relay/events/outbox.hpp"

namespace smarthost::queue {
namespace {

constexpr std::string_view k_reconcile_account_hold = R"sql(
WITH placed AS (
    INSERT INTO holds (account_id, reason, evidence, created_by)
    SELECT a.id, 'account_suspended',
           jsonb_build_object('suspended_reason', a.suspended_reason), $2::text
      FROM accounts a WHERE a.id = $1 AND a.status = 'suspended'
    ON CONFLICT DO NOTHING
    RETURNING id
), released AS (
    UPDATE holds h SET released_at = now(), released_by = $2::text
      FROM accounts a
     WHERE a.id = $1 AND a.status = 'active' AND h.account_id = a.id
       AND h.credential_id IS NULL AND h.sub_user IS NULL
       AND h.reason = 'account_suspended' AND h.released_at IS NULL
    RETURNING h.id
)
SELECT (SELECT count(*) FROM placed), (SELECT count(*) FROM released))sql";

constexpr std::string_view k_reconcile_credential_hold = R"sql(
WITH placed AS (
    INSERT INTO holds (account_id, credential_id, reason, evidence, created_by)
    SELECT c.account_id, c.id, 'credential_disabled',
           jsonb_build_object('username', c.username), $2::text
      FROM credentials c WHERE c.id = $1 AND NOT c.enabled
    ON CONFLICT DO NOTHING
    RETURNING id
), released AS (
    UPDATE holds h SET released_at = now(), released_by = $2::text
      FROM credentials c
     WHERE c.id = $1 AND c.enabled AND h.credential_id = c.id
       AND h.reason = 'credential_disabled' AND h.released_at IS NULL
    RETURNING h.id
)
SELECT (SELECT count(*) FROM placed), (SELECT count(*) FROM released))sql";

// A hold's jobs are found through queue_jobs_hold_idx; holds without one are few (those
// placed or released since the last run), but every hold is looked at: the table holds
// one row per containment, which stays small next to the queue. A job is started once per
// hold and direction, so the webhook events account.held and account.released
// (docs/webhooks.md) ride with it, exactly once each.
constexpr std::string_view k_new_hold_jobs = R"sql(
WITH new_job AS (
    INSERT INTO queue_jobs (action, filter, hold_id, created_by)
    SELECT 'hold',
           jsonb_strip_nulls(jsonb_build_object('account_id', h.account_id,
                                                'credential_id', h.credential_id,
                                                'sub_user', h.sub_user)),
           h.id, h.created_by
      FROM holds h
     WHERE h.released_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM queue_jobs j WHERE j.hold_id = h.id AND j.action = 'hold')
    UNION ALL
    SELECT 'release', jsonb_build_object('hold_id', h.id), h.id, coalesce(h.released_by, '')
      FROM holds h
     WHERE h.released_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM queue_jobs j WHERE j.hold_id = h.id AND j.action = 'release')
    RETURNING action, hold_id
), )sql";

constexpr std::string_view k_hold_events = R"sql(
SELECT CASE j.action WHEN 'hold' THEN 'account.held' ELSE 'account.released' END,
       h.account_id,
       jsonb_strip_nulls(jsonb_build_object(
           'hold_id', h.id, 'reason', h.reason, 'credential_id', h.credential_id,
           'sub_user', h.sub_user, 'evidence', h.evidence,
           'by', CASE j.action WHEN 'hold' THEN h.created_by ELSE h.released_by END))
  FROM new_job j JOIN holds h ON h.id = j.hold_id)sql";

}  // namespace

std::string_view reconcile_account_hold_sql() {
    return k_reconcile_account_hold;
}

std::string_view reconcile_credential_hold_sql() {
    return k_reconcile_credential_hold;
}

std::string_view start_hold_jobs_sql() {
    // Built on first use, not at static initialization: outbox_ctes is another unit's.
    static const std::string sql = std::string(k_new_hold_jobs) +
                                   events::outbox_ctes("hold", k_hold_events) +
                                   "\nSELECT count(*) FROM new_job";
    return sql;
}

}  // namespace smarthost::queue
