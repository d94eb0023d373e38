#pragma once
// /api/v1/domains/{id}/health: the last stored health check of a sender domain (DKIM,
// SPF, DMARC; docs/domain-health.md), and a refresh that checks it now.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>

#include "admin-api/router.hpp"
#include "core/result.hpp"

namespace smarthost::admin {

// Checks one domain now and stores the result (relay/policy's DomainHealthChecker):
// false when there is no such domain.
using RefreshDomainHealth =
    std::function<boost::asio::awaitable<Result<bool>>(std::int64_t domain_id)>;

// `refresh` may be empty (no resolver in this process): refresh then answers 503.
void add_domain_health_routes(Router& router, RefreshDomainHealth refresh);

}  // namespace smarthost::admin
