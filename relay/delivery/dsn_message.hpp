#pragma once
// A delivery report as a message to store (DESIGN.md "bounced (DSN to sender)"): the DSN
// that build_dsn() writes, from the null sender, under the account of the message it
// reports on. Pure: the id and the time come from the caller. Used for the bounces of the
// delivery role and for recipients bounced at submission alike.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "relay/delivery/dsn.hpp"
#include "relay/queue/new_message.hpp"

namespace smarthost::delivery {

// Nothing when build_dsn() gives none (null sender, or no recipient's NOTIFY asks for a
// report). `id` (queue::new_message_id()) becomes the stored message's id and the token
// of its Message-ID and MIME boundary.
std::optional<queue::NewMessage> dsn_message(const DsnSettings& settings,
                                             const DsnOriginal& original,
                                             const std::vector<DsnRecipient>& recipients,
                                             std::int64_t account_id, TimePoint now,
                                             queue::MessageId id);

}  // namespace smarthost::delivery
