#pragma once
// Webhook endpoints (docs/webhooks.md): global ones under /api/v1/webhooks, an account's
// under /api/v1/accounts/{id}/webhooks; each one's deliveries, secret rotation and the
// replay of its failed deliveries. The secret is answered once, at creation or rotation.

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_webhook_routes(Router& router);

}  // namespace smarthost::admin
