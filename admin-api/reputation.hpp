#pragma once
// /api/v1/reputation: each outbound source address with its DNSBL listings, as the policy
// layer's DNSBL checker last recorded them (table outbound_listings). Read-only.

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_reputation_routes(Router& router);

}  // namespace smarthost::admin
