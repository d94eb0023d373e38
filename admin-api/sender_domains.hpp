#pragma once
// /api/v1/accounts/{id}/domains and /api/v1/domains/{id}: the domains an account may send
// as, each with the TXT record that proves the customer controls it.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "admin-api/router.hpp"
#include "core/result.hpp"

namespace smarthost::admin {

// The owner-name prefix of the verification record: "<label>.<domain>" TXT
// "smarthost-verification=<token>". The label is a DNS label (underscore-led by
// convention, RFC 8552), a constant of the deployment.
inline constexpr std::string_view k_default_verification_label = "_smarthost";

// Checks one domain's TXT record now and stores the outcome (relay/policy's
// DomainVerifier): whether the DNS answered conclusively, nullopt for no such domain.
using VerifyDomain =
    std::function<boost::asio::awaitable<Result<std::optional<bool>>>(std::int64_t domain_id)>;

// `verify` may be empty (no resolver in this process): verify-now then answers 503.
void add_sender_domain_routes(Router& router, std::string verification_label, VerifyDomain verify);

}  // namespace smarthost::admin
