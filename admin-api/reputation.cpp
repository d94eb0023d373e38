#include "admin-api/reputation.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "admin-api/pagination.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

// One item per source address; `listed` is true when any zone lists it. A deployment has
// a handful of source addresses, so the list is not paginated.
constexpr std::string_view k_reputation = R"sql(
SELECT json_build_object('items', coalesce(json_agg(json_build_object(
           'source_address', host(a.source_address), 'listed', a.listed,
           'checked_at', a.checked_at, 'listings', a.listings)
       ORDER BY a.source_address), '[]'))
  FROM (SELECT source_address, bool_or(listed) AS listed, max(checked_at) AS checked_at,
               json_agg(json_build_object('zone', zone, 'listed', listed, 'answer', answer,
                                          'checked_at', checked_at) ORDER BY zone) AS listings
          FROM outbound_listings
         GROUP BY source_address) a
 WHERE $1::boolean IS NULL OR a.listed = $1)sql";

asio::awaitable<Response> list_reputation(RequestContext& context) {
    const auto listed = query_value(parse_query(context.request.query), "listed");
    if (listed && *listed != "true" && *listed != "false")
        co_return problem::validation("listed", "must be true or false");
    auto rows = co_await context.pool.query(std::string(k_reputation), listed);
    if (!rows) co_return problem::from_database(rows.error());
    co_return json_response(200, std::string(rows->get(0, 0)));
}

}  // namespace

void add_reputation_routes(Router& router) {
    router.add("GET", "/api/v1/reputation", list_reputation);
}

}  // namespace smarthost::admin
