#pragma once
// SMTP credentials of an account: the server generates each password, stores only its
// argon2id hash, and shows the password once (on create and rotate).

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_credential_routes(Router& router);

}  // namespace smarthost::admin
