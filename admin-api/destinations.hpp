#pragma once
// /api/v1/destinations (docs/admin-api.md "Destinations"): the destination groups of the
// configuration with their shared push-back state and the quota leased in the current
// windows, the MX hosts whose circuit is open, and resuming a group that backs off
// (audited). The groups come from this process's configuration: every replica should
// have the same.

#include "admin-api/router.hpp"
#include "core/shaping_config.hpp"

namespace smarthost::admin {

void add_destination_routes(Router& router, const ShapingConfig& shaping);

}  // namespace smarthost::admin
