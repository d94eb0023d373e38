#pragma once
// The kinds of webhook event (docs/webhooks.md, "Events"): what an endpoint may ask for
// in event_types, and what the outbox writes in `type`. Pure.

#include <span>
#include <string_view>

namespace smarthost::events {

// Every kind, in the order the documentation lists them.
std::span<const std::string_view> event_kinds();
bool is_event_kind(std::string_view kind);

}  // namespace smarthost::events
