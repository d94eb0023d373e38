#pragma once
// What SMTP sessions count (docs/metrics.md): the classification of refusals is pure and
// unit-tested; the count_* functions add to the process's metrics.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "relay/ingress/identity.hpp"
#include "relay/smtp/reply.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::ingress {

// The `reason` label for a reply of the session machine's own that refuses a sender, a
// recipient or a message;
// nullopt for every other reply (positive ones, command syntax and sequence errors, AUTH
// results, connection-level 421s), which are not rejections of mail.
std::optional<std::string_view> rejection_reason(const smtp::Reply& reply);

// The `reason` label of a refused policy check, from the verdict's reason.
std::string_view rejection_label(smtp::Refusal reason);

// Counts the reply of `action` if it is a rejection (by its policy reason when it has one,
// else by rejection_reason): globally, and for the account when the client is identified
// (authenticated or from an allow-listed network).
void count_rejection(const smtp::Action& action, const std::optional<Identity>& identity);
void count_auth(const std::string& listener, smtp::AuthOutcome outcome);
// An AUTH refused at once because the most logins were being verified already.
void count_auth_overloaded(const std::string& listener);
void count_accepted(const Identity& identity, std::size_t recipients);

}  // namespace smarthost::ingress
