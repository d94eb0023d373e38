#pragma once
// The operator's TLS policy per destination domain (docs/delivery.md "Per-domain TLS
// policy"): /api/v1/tls-policies and /api/v1/tls-policies/{domain}, read by delivery
// (relay/delivery/transport_security) before each attempt at the domain's mail.

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_tls_policy_routes(Router& router);

}  // namespace smarthost::admin
