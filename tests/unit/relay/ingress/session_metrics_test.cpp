// Which SMTP replies count as rejections of mail, and under which reason label
// (relay/ingress/session_metrics.cpp).

#include "relay/ingress/session_metrics.hpp"

#include <gtest/gtest.h>

namespace smarthost::ingress {
namespace {

namespace reply = smtp::reply;

TEST(RejectionReason, RefusalsOfMailHaveTheirReason) {
    EXPECT_EQ(rejection_reason(reply::auth_required()), "authentication_required");
    EXPECT_EQ(rejection_reason(reply::bad_sender_address("invalid address")), "bad_sender");
    EXPECT_EQ(rejection_reason(reply::bad_recipient_address("invalid address")), "bad_recipient");
    EXPECT_EQ(rejection_reason(reply::no_local_mailboxes()), "bad_recipient");
    EXPECT_EQ(rejection_reason(reply::message_too_big()), "message_too_big");
    EXPECT_EQ(rejection_reason(reply::too_many_recipients()), "too_many_recipients");
    EXPECT_EQ(rejection_reason(reply::bare_lf_in_data()), "malformed_data");
    EXPECT_EQ(rejection_reason(reply::nul_in_data()), "malformed_data");
    EXPECT_EQ(rejection_reason(reply::not_queued()), "queue_unavailable");
    EXPECT_EQ(rejection_reason(reply::insufficient_storage()), "insufficient_storage");
}

TEST(RejectionReason, PolicyRefusalsAreCountedAsPolicy) {
    EXPECT_EQ(rejection_reason(smtp::Reply{550, "5.7.1", {"Sender not permitted"}}), "policy");
    EXPECT_EQ(rejection_reason(smtp::Reply{451, "4.7.1", {"Rate limit reached"}}), "policy");
}

TEST(RejectionReason, ProtocolErrorsAuthResultsAndPositiveRepliesAreNotRejections) {
    EXPECT_FALSE(rejection_reason(reply::sender_ok()));
    EXPECT_FALSE(rejection_reason(reply::queued("0123")));
    EXPECT_FALSE(rejection_reason(reply::syntax_error("Syntax: MAIL FROM:<address>")));
    EXPECT_FALSE(rejection_reason(reply::bad_sequence("Need MAIL before RCPT")));
    EXPECT_FALSE(rejection_reason(reply::command_unrecognized()));
    EXPECT_FALSE(rejection_reason(reply::auth_credentials_invalid()));
    EXPECT_FALSE(rejection_reason(reply::encryption_required()));
    EXPECT_FALSE(rejection_reason(reply::auth_temporary_failure()));
    EXPECT_FALSE(rejection_reason(reply::too_many_errors("mx.test")));
    EXPECT_FALSE(rejection_reason(reply::too_many_connections("mx.test")));
}

}  // namespace
}  // namespace smarthost::ingress

namespace smarthost::ingress {
namespace {

TEST(RejectionLabel, APolicyRefusalIsCountedByItsReasonNotItsReply) {
    EXPECT_EQ(rejection_label(smtp::Refusal::rate_limit), "policy");
    EXPECT_EQ(rejection_label(smtp::Refusal::dnsbl), "policy");
    EXPECT_EQ(rejection_label(smtp::Refusal::mail_loop), "policy");
    EXPECT_EQ(rejection_label(smtp::Refusal::message_size), "message_too_big");
    EXPECT_EQ(rejection_label(smtp::Refusal::recipients_per_message), "too_many_recipients");
    EXPECT_EQ(rejection_label(smtp::Refusal::suppressed), "bad_recipient");
    EXPECT_EQ(rejection_label(smtp::Refusal::unavailable), "queue_unavailable");
}

}  // namespace
}  // namespace smarthost::ingress
