#include "relay/events/event_kinds.hpp"

#include <gtest/gtest.h>

namespace smarthost::events {
namespace {

TEST(WebhookEventKinds, KnowsTheMessageAndAccountEvents) {
    for (const char* kind : {"message.delivered", "message.deferred", "message.bounced",
                             "message.expired", "account.suspended", "account.resumed"})
        EXPECT_TRUE(is_event_kind(kind)) << kind;
}

TEST(WebhookEventKinds, RefusesAnythingElse) {
    EXPECT_FALSE(is_event_kind(""));
    EXPECT_FALSE(is_event_kind("message.*"));
    EXPECT_FALSE(is_event_kind("MESSAGE.DELIVERED"));
    EXPECT_FALSE(is_event_kind("message.delivered "));
}

}  // namespace
}  // namespace smarthost::events
