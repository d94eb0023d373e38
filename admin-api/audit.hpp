#pragma once
// The audit log: every change made through the API, with the token's name. A change and
// its audit row are one statement (a data-modifying CTE), so both commit or neither, and
// a change that touched no row (a 404) leaves no audit row.

#include <boost/asio/awaitable.hpp>
#include <string_view>
#include <vector>

#include "admin-api/router.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {

using pg::params_of;

// The audit row's own parameters $1..$4 (token name, method, path, status), for
// statements that write their audit row themselves (one row for a change of many rows).
std::vector<pg::Param> audit_params(const RequestContext& context, unsigned status);

// `dml` is an INSERT/UPDATE/DELETE ... RETURNING * whose own parameters start at $5
// ($1..$4 are the audit row's token, method, path and status). `detail` is a jsonb
// expression over the changed row `t`; `select` is the result list over `t`.
// `more_ctes`, when given, are further WITH members that may read `changed` (the
// webhook events of the change: relay/events/outbox.hpp).
pg::Statement audited(const RequestContext& context, unsigned status, std::string_view dml,
                      std::string_view detail, std::string_view select,
                      std::vector<pg::Param> params, std::string_view more_ctes = {});

void add_audit_routes(Router& router);

}  // namespace smarthost::admin
