#pragma once
// GET /metrics, /healthz and /readyz (docs/metrics.md). Served on the metrics listener
// and on the admin listener, without a Bearer token: Prometheus and orchestrator probes
// carry none, and these routes reveal no customer data and change nothing.

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_health_routes(Router& router);

}  // namespace smarthost::admin
