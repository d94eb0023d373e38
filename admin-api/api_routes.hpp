#pragma once
// Every /api/v1 route of the admin API, for the server and for the OpenAPI check.

#include <string>

#include "admin-api/cidr.hpp"
#include "admin-api/containment.hpp"
#include "admin-api/dkim_keys.hpp"
#include "admin-api/domain_health.hpp"
#include "admin-api/router.hpp"
#include "admin-api/sender_domains.hpp"
#include "core/shaping_config.hpp"

namespace smarthost::admin {

// Deployment choices some routes depend on.
struct ApiOptions {
    // The owner-name prefix of sender-domain verification records.
    std::string verification_label = std::string(k_default_verification_label);
    VerifyDomain verify_domain;                 // empty: verify-now answers 503
    NetworkBreadth network_breadth;             // broader allowed networks need "force": true
    RefreshDomainHealth refresh_domain_health;  // empty: health refresh answers 503
    DkimKeyOptions dkim;                        // no key-encryption key: the key routes answer 503
    WorkOnQueueJob work_on_queue_job;           // empty: queue actions are answered 202
    ShapingConfig shaping;                      // the destination groups /destinations shows
};

Router api_router(const ApiOptions& options = {});

}  // namespace smarthost::admin
