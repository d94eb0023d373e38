#pragma once
// /api/v1/accounts/{id}/domains and /api/v1/domains/{id}: the domains an account may send
// as, each with the TXT record that proves the customer controls it.

#include <string>

#include "admin-api/router.hpp"

namespace smarthost::admin {

// The owner-name prefix of the verification record: "<label>.<domain>" TXT
// "smarthost-verification=<token>". The label is a DNS label (underscore-led by
// convention, RFC 8552), a constant of the deployment.
inline constexpr std::string_view k_default_verification_label = "_smarthost";

void add_sender_domain_routes(Router& router, std::string verification_label);

}  // namespace smarthost::admin
