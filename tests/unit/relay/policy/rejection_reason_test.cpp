#include <gtest/gtest.h>

#include "relay/policy/submission_policy.hpp"

namespace smarthost::policy {
namespace {

using smtp::PolicyStage;
namespace reply = smtp::reply;

TEST(RejectionReason, NamesEachRefusalForTheStatistics) {
    EXPECT_EQ(rejection_reason(PolicyStage::sender, reply::account_suspended("shop", "")),
              "account_suspended");
    EXPECT_EQ(rejection_reason(PolicyStage::sender,
                               reply::sender_domain_not_permitted("bank.example", "shop")),
              "sender_domain");
    EXPECT_EQ(rejection_reason(PolicyStage::sender, reply::null_sender_not_permitted("shop")),
              "sender_domain");
    EXPECT_EQ(rejection_reason(PolicyStage::recipient,
                               reply::recipient_suppressed("gone@example.org", "bounced")),
              "suppressed");
    EXPECT_EQ(rejection_reason(PolicyStage::message, reply::header_fields_invalid("no From:")),
              "from_header");
    EXPECT_EQ(rejection_reason(PolicyStage::message,
                               reply::header_author_not_permitted("From", "bank.example", "shop")),
              "from_domain");
    EXPECT_EQ(rejection_reason(PolicyStage::message, reply::header_author_not_permitted(
                                                         "Sender", "bank.example", "shop")),
              "from_domain");
    EXPECT_EQ(rejection_reason(PolicyStage::message, reply::author_field_too_long("From", 998)),
              "from_domain");
    EXPECT_EQ(rejection_reason(PolicyStage::message, reply::mail_loop(51, 50)), "mail_loop");
    EXPECT_EQ(rejection_reason(PolicyStage::sender, reply::rate_limited("messages_per_hour", 500,
                                                                        "2026-11-25T15:00:00Z")),
              "rate_limit:messages_per_hour");
    EXPECT_EQ(rejection_reason(PolicyStage::recipient, reply::rate_limited("recipients_per_day", 9,
                                                                           "2026-11-26T00:00:00Z")),
              "rate_limit:recipients_per_day");
    EXPECT_EQ(rejection_reason(PolicyStage::recipient, reply::too_many_recipients()),
              "recipients_per_message");
    EXPECT_EQ(rejection_reason(PolicyStage::message, reply::message_too_big()), "message_size");
    // The database, not the customer: not a rejection of theirs.
    EXPECT_EQ(rejection_reason(PolicyStage::sender, reply::policy_unavailable()), "");
}

}  // namespace
}  // namespace smarthost::policy
