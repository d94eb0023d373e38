#include "admin-api/api_routes.hpp"

#include "admin-api/accounts.hpp"
#include "admin-api/audit.hpp"
#include "admin-api/credentials.hpp"
#include "admin-api/networks.hpp"
#include "admin-api/tokens.hpp"

namespace smarthost::admin {

Router api_router() {
    Router router;
    add_account_routes(router);
    add_credential_routes(router);
    add_network_routes(router);
    add_token_routes(router);
    add_audit_routes(router);
    return router;
}

}  // namespace smarthost::admin
