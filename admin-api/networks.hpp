#pragma once
// Allow-listed networks of an account (relay without AUTH from these CIDRs). One network
// belongs to one account: overlapping networks are refused with 409.

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_network_routes(Router& router);

}  // namespace smarthost::admin
