#pragma once
// Allow-listed networks of an account (relay without AUTH from these CIDRs). One network
// belongs to one account: overlapping networks are refused with 409. A network broader
// than `breadth` allows is refused with 422 unless the request says "force": true.

#include "admin-api/cidr.hpp"
#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_network_routes(Router& router, NetworkBreadth breadth);

}  // namespace smarthost::admin
