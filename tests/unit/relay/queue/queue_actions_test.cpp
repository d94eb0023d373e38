#include "relay/queue/queue_actions.hpp"

#include <gtest/gtest.h>

namespace smarthost::queue {
namespace {

TEST(RecipientAction, NamesAreThoseOfTheRoutes) {
    EXPECT_EQ(action_name(RecipientAction::retry), "retry");
    EXPECT_EQ(action_name(RecipientAction::hold), "hold");
    EXPECT_EQ(action_name(RecipientAction::release), "release");
    EXPECT_EQ(action_name(RecipientAction::cancel), "cancel");
}

TEST(RecipientAction, FromStatesReadAsAPhrase) {
    EXPECT_EQ(from_states_phrase(RecipientAction::retry), "queued or deferred");
    EXPECT_EQ(from_states_phrase(RecipientAction::hold), "queued or deferred");
    EXPECT_EQ(from_states_phrase(RecipientAction::release), "held");
    EXPECT_EQ(from_states_phrase(RecipientAction::cancel), "queued, deferred or held");
}

TEST(RecipientAction, OnlyThoseThatMakeRecipientsDueWakeDelivery) {
    EXPECT_TRUE(wakes_delivery(RecipientAction::retry));
    EXPECT_TRUE(wakes_delivery(RecipientAction::release));
    EXPECT_FALSE(wakes_delivery(RecipientAction::hold));
    EXPECT_FALSE(wakes_delivery(RecipientAction::cancel));
}

}  // namespace
}  // namespace smarthost::queue
