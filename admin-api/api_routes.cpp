#include "admin-api/api_routes.hpp"

#include "admin-api/accounts.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/credentials.hpp"
#include "admin-api/destinations.hpp"
#include "admin-api/messages.hpp"
#include "admin-api/networks.hpp"
#include "admin-api/queue_view.hpp"
#include "admin-api/reputation.hpp"
#include "admin-api/stats.hpp"
#include "admin-api/suppressions.hpp"
#include "admin-api/tls_policies.hpp"
#include "admin-api/tokens.hpp"
#include "admin-api/webhooks.hpp"

namespace smarthost::admin {

Router api_router(const ApiOptions& options) {
    Router router;
    add_account_routes(router);
    add_credential_routes(router);
    add_network_routes(router, options.network_breadth);
    add_sender_domain_routes(router, options.verification_label, options.verify_domain);
    add_dkim_key_routes(router, options.dkim);
    add_domain_health_routes(router, options.refresh_domain_health);
    add_suppression_routes(router);
    add_tls_policy_routes(router);
    add_stats_routes(router);
    add_message_routes(router);
    add_queue_routes(router);
    add_containment_routes(router, options.work_on_queue_job);
    add_reputation_routes(router);
    add_destination_routes(router, options.shaping);
    add_token_routes(router);
    add_webhook_routes(router);
    add_audit_routes(router);
    return router;
}

}  // namespace smarthost::admin
