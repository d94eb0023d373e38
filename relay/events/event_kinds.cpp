#include "relay/events/event_kinds.hpp"

#include <algorithm>
#include <array>

namespace smarthost::events {
namespace {

constexpr std::array<std::string_view, 11> k_kinds{
    "message.delivered", "message.deferred", "message.bounced",       "message.expired",
    "account.suspended", "account.resumed",  "account.held",          "account.released",
    "auth.locked",       "limit.reached",    "domain.health_changed",
};

}  // namespace

std::span<const std::string_view> event_kinds() {
    return k_kinds;
}

bool is_event_kind(std::string_view kind) {
    return std::find(k_kinds.begin(), k_kinds.end(), kind) != k_kinds.end();
}

}  // namespace smarthost::events
