#include "admin-api/queue_view.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "admin-api/pagination.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

constexpr std::int64_t k_default_top = 10;
constexpr std::int64_t k_max_top = 100;

// Only the states mail waits in: final states are history (see /accounts/{id}/stats).
// Held mail is counted but not aged: an operator parked it on purpose. The last error of
// a domain is the reply of its most recently deferred recipient.
constexpr std::string_view k_queue = R"sql(
WITH waiting AS (
    SELECT r.message_id, r.state FROM recipients r
     WHERE r.state IN ('queued', 'in_flight', 'deferred', 'held')
), oldest AS (
    SELECT min(m.received_at) AS received_at
      FROM messages m
     WHERE m.id IN (SELECT message_id FROM waiting WHERE state <> 'held')
), deferred_domains AS (
    SELECT r.domain, count(*) AS deferred,
           (array_agg(r.last_reply ORDER BY r.updated_at DESC, r.id DESC))[1] AS last_error,
           max(r.updated_at) AS last_deferred_at
      FROM recipients r
     WHERE r.state = 'deferred'
     GROUP BY r.domain
     ORDER BY count(*) DESC, r.domain
     LIMIT $1
)
SELECT json_build_object(
           'recipients', (SELECT json_build_object(
                                     'queued', count(*) FILTER (WHERE state = 'queued'),
                                     'in_flight', count(*) FILTER (WHERE state = 'in_flight'),
                                     'deferred', count(*) FILTER (WHERE state = 'deferred'),
                                     'held', count(*) FILTER (WHERE state = 'held'))
                            FROM waiting),
           'oldest_queued_at', o.received_at,
           'oldest_queued_age_seconds',
               CASE WHEN o.received_at IS NULL THEN NULL
                    ELSE floor(extract(epoch FROM now() - o.received_at))::bigint END,
           'deferred_domains', (SELECT coalesce(json_agg(json_build_object(
                                            'domain', d.domain, 'deferred', d.deferred,
                                            'last_error', d.last_error,
                                            'last_deferred_at', d.last_deferred_at)
                                        ORDER BY d.deferred DESC, d.domain), '[]')
                                  FROM deferred_domains d))
  FROM oldest o)sql";

asio::awaitable<Response> queue_summary(RequestContext& context) {
    std::int64_t top = k_default_top;
    if (const auto text = query_value(parse_query(context.request.query), "top")) {
        const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), top);
        if (text->empty() || ec != std::errc() || end != text->data() + text->size() || top < 1 ||
            top > k_max_top)
            co_return problem::validation("top", "must be an integer from 1 to 100");
    }
    auto rows = co_await context.pool.query(std::string(k_queue), top);
    if (!rows) co_return problem::from_database(rows.error());
    co_return json_response(200, std::string(rows->get(0, 0)));
}

}  // namespace

void add_queue_routes(Router& router) {
    router.add("GET", "/api/v1/queue", queue_summary);
}

}  // namespace smarthost::admin
