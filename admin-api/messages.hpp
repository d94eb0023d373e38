#pragma once
// /api/v1/messages: search, the tracking view of one message (its recipients and events),
// and the operator's actions on its recipients: retry now, hold, release, cancel.

#include <optional>
#include <string>
#include <string_view>

#include "admin-api/router.hpp"

namespace smarthost::admin {

// A message id as the API shows it (32 lower-case hex digits, the id in "queued as") from
// that form or the canonical UUID form; nullopt for anything else.
std::optional<std::string> parse_message_id(std::string_view text);

void add_message_routes(Router& router);

}  // namespace smarthost::admin
