#pragma once
// /api/v1/queue: the delivery queue at a glance — recipients by state, the age of the
// oldest waiting message, and the destinations with the most deferred recipients.

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_queue_routes(Router& router);

}  // namespace smarthost::admin
