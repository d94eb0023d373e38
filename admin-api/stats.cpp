#include "admin-api/stats.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "admin-api/pagination.hpp"
#include "admin-api/time_range.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

constexpr std::int64_t k_default_window_seconds = 24 * 3600;
constexpr std::int64_t k_most_sub_users = 1000;

// $1 account, $2 from, $3 to, $4 window seconds (used when from is absent), $5 the most
// sub-users listed. Outcomes are
// counted by when they happened, acceptances by when the message arrived; all within
// [from, to). Events older than the event retention are gone, so are their counts.
constexpr std::string_view k_stats = R"sql(
WITH bounds AS (
    SELECT coalesce($2::timestamptz, now() - $4::bigint * interval '1 second') AS from_at,
           coalesce($3::timestamptz, now()) AS to_at
), accepted AS (
    SELECT count(*) AS messages, coalesce(sum(
               (SELECT count(*) FROM recipients r WHERE r.message_id = m.id)), 0) AS recipients
      FROM messages m, bounds b
     WHERE m.account_id = $1 AND m.received_at >= b.from_at AND m.received_at < b.to_at
), outcomes AS (
    SELECT count(*) FILTER (WHERE e.kind = 'delivered') AS delivered,
           count(*) FILTER (WHERE e.kind = 'deferred') AS deferred,
           count(*) FILTER (WHERE e.kind = 'bounced') AS bounced,
           count(*) FILTER (WHERE e.kind = 'expired') AS expired
      FROM events e JOIN messages m ON m.id = e.message_id, bounds b
     WHERE m.account_id = $1 AND e.created_at >= b.from_at AND e.created_at < b.to_at
), failures AS (
    -- Each failed attempt once: by its state event, not its attempt event.
    SELECT e.category, count(*) AS count
      FROM events e JOIN messages m ON m.id = e.message_id, bounds b
     WHERE m.account_id = $1 AND e.created_at >= b.from_at AND e.created_at < b.to_at
       AND e.kind IN ('deferred', 'bounced', 'expired') AND e.category IS NOT NULL
     GROUP BY e.category
), refused AS (
    SELECT reason, count(*) AS count
      FROM rejections j, bounds b
     WHERE j.account_id = $1 AND j.created_at >= b.from_at AND j.created_at < b.to_at
     GROUP BY reason
), unit_accepted AS (
    SELECT m.credential_id, m.sub_user, count(*) AS messages,
           coalesce(sum((SELECT count(*) FROM recipients r WHERE r.message_id = m.id)), 0)
               AS recipients
      FROM messages m, bounds b
     WHERE m.account_id = $1 AND m.received_at >= b.from_at AND m.received_at < b.to_at
       AND (m.credential_id IS NOT NULL OR m.sub_user IS NOT NULL)
     GROUP BY GROUPING SETS ((m.credential_id), (m.sub_user))
), unit_outcomes AS (
    SELECT m.credential_id, m.sub_user,
           count(*) FILTER (WHERE e.kind = 'delivered') AS delivered,
           count(*) FILTER (WHERE e.kind = 'deferred') AS deferred,
           count(*) FILTER (WHERE e.kind = 'bounced') AS bounced,
           count(*) FILTER (WHERE e.kind = 'expired') AS expired
      FROM events e JOIN messages m ON m.id = e.message_id, bounds b
     WHERE m.account_id = $1 AND e.created_at >= b.from_at AND e.created_at < b.to_at
       AND e.kind IN ('delivered', 'deferred', 'bounced', 'expired')
       AND (m.credential_id IS NOT NULL OR m.sub_user IS NOT NULL)
     GROUP BY GROUPING SETS ((m.credential_id), (m.sub_user))
), by_credential AS (
    SELECT c.id, c.username, coalesce(a.messages, 0) AS messages,
           coalesce(a.recipients, 0) AS recipients, coalesce(o.delivered, 0) AS delivered,
           coalesce(o.deferred, 0) AS deferred, coalesce(o.bounced, 0) AS bounced,
           coalesce(o.expired, 0) AS expired
      FROM credentials c
      LEFT JOIN unit_accepted a ON a.credential_id = c.id
      LEFT JOIN unit_outcomes o ON o.credential_id = c.id
     WHERE c.account_id = $1
), by_sub_user AS (
    SELECT coalesce(a.sub_user, o.sub_user) AS sub_user, coalesce(a.messages, 0) AS messages,
           coalesce(a.recipients, 0) AS recipients, coalesce(o.delivered, 0) AS delivered,
           coalesce(o.deferred, 0) AS deferred, coalesce(o.bounced, 0) AS bounced,
           coalesce(o.expired, 0) AS expired
      FROM (SELECT * FROM unit_accepted WHERE sub_user IS NOT NULL) a
      FULL JOIN (SELECT * FROM unit_outcomes WHERE sub_user IS NOT NULL) o
        ON o.sub_user = a.sub_user
), top_sub_users AS (
    -- Customers name sub-users: the busiest k_most_sub_users ($5) are listed.
    SELECT * FROM by_sub_user ORDER BY messages DESC, sub_user LIMIT $5
)
SELECT json_build_object(
           'account_id', a.id, 'from', b.from_at, 'to', b.to_at,
           'accepted', json_build_object('messages', ac.messages, 'recipients', ac.recipients),
           'rejected', json_build_object(
               'total', (SELECT coalesce(sum(count), 0) FROM refused),
               'by_reason', (SELECT coalesce(json_object_agg(reason, count ORDER BY reason), '{}')
                               FROM refused)),
           'rate_limit_hits', (SELECT coalesce(sum(count), 0) FROM refused
                                WHERE reason = 'rate_limit' OR starts_with(reason, 'rate_limit:')),
           'delivered', o.delivered, 'deferred', o.deferred, 'bounced', o.bounced,
           'expired', o.expired,
           'failures_by_category', (SELECT coalesce(json_object_agg(category, count
                                                                    ORDER BY category), '{}')
                                      FROM failures),
           'by_credential', (SELECT coalesce(json_agg(json_build_object(
                                 'credential_id', id, 'username', username,
                                 'accepted', json_build_object('messages', messages,
                                                               'recipients', recipients),
                                 'delivered', delivered, 'deferred', deferred,
                                 'bounced', bounced, 'expired', expired) ORDER BY id), '[]')
                               FROM by_credential),
           'sub_users_total', (SELECT count(*) FROM by_sub_user),
           'by_sub_user', (SELECT coalesce(json_agg(json_build_object(
                               'sub_user', sub_user,
                               'accepted', json_build_object('messages', messages,
                                                             'recipients', recipients),
                               'delivered', delivered, 'deferred', deferred,
                               'bounced', bounced, 'expired', expired)
                               ORDER BY messages DESC, sub_user), '[]')
                             FROM top_sub_users))
  FROM accounts a, bounds b, accepted ac, outcomes o
 WHERE a.id = $1)sql";

asio::awaitable<Response> account_stats(RequestContext& context) {
    const auto account_id = context.id_param();
    if (!account_id) co_return problem::not_found("no such account");
    std::vector<FieldError> errors;
    const auto range = read_time_range(parse_query(context.request.query), true, errors);
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    const auto window = range.window_seconds.value_or(k_default_window_seconds);
    auto rows = co_await context.pool.query(std::string(k_stats), *account_id, range.from, range.to,
                                            window, k_most_sub_users);
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such account");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

}  // namespace

void add_stats_routes(Router& router) {
    router.add("GET", "/api/v1/accounts/{id}/stats", account_stats);
}

}  // namespace smarthost::admin
