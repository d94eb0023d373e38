#pragma once
// /api/v1/accounts/{id}/stats: what an account sent over a time window, from PostgreSQL:
// messages and recipients accepted (messages), outcomes (events), refusals and rate-limit
// hits (rejections, written by the policy layer).

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_stats_routes(Router& router);

}  // namespace smarthost::admin
