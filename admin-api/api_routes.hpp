#pragma once
// Every /api/v1 route of the admin API, for the server and for the OpenAPI check.

#include "admin-api/router.hpp"

namespace smarthost::admin {

Router api_router();

}  // namespace smarthost::admin
