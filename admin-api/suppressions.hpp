#pragma once
// /api/v1/accounts/{id}/suppressions and /api/v1/suppressions/{id}: the addresses an
// account's mail is not sent to. Delivery adds hard-bounced ones; operators add and
// remove them here.

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_suppression_routes(Router& router);

}  // namespace smarthost::admin
