#include <gtest/gtest.h>

#include "relay/policy/sender_authorization.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::policy {
namespace {

using smtp::PolicyVerdict;
using smtp::Refusal;
namespace reply = smtp::reply;

TEST(RejectionRow, NamesEachRefusalForTheStatistics) {
    const auto row = [](Refusal reason, std::string limit = {}) {
        return PolicyVerdict::refuse(reply::ok(), reason, std::move(limit)).rejection_row();
    };
    EXPECT_EQ(row(Refusal::account_suspended), "account_suspended");
    EXPECT_EQ(row(Refusal::sender_domain), "sender_domain");
    EXPECT_EQ(row(Refusal::suppressed), "suppressed");
    EXPECT_EQ(row(Refusal::from_header), "from_header");
    EXPECT_EQ(row(Refusal::from_domain), "from_domain");
    EXPECT_EQ(row(Refusal::mail_loop), "mail_loop");
    EXPECT_EQ(row(Refusal::rate_limit, "messages_per_hour"), "rate_limit:messages_per_hour");
    EXPECT_EQ(row(Refusal::recipients_per_message), "recipients_per_message");
    EXPECT_EQ(row(Refusal::message_size), "message_size");
    EXPECT_EQ(row(Refusal::dnsbl), "dnsbl");
    EXPECT_EQ(row(Refusal::domain_blocklist), "domain_blocklist");
    // The database, not the customer: not a rejection of theirs.
    EXPECT_EQ(row(Refusal::unavailable), "");
    EXPECT_EQ(PolicyVerdict::proceed().rejection_row(), "");
}

AccountPolicy shop() {
    AccountPolicy account;
    account.exists = true;
    account.name = "shop";
    return account;
}

TEST(RejectionRow, TheSenderChecksNameTheirReasonWhereTheyDecide) {
    auto suspended = shop();
    suspended.suspended = true;
    EXPECT_EQ(judge_sender(suspended, "a@shop.example", {}).reason, Refusal::account_suspended);
    AccountPolicy unknown;
    unknown.exists = false;
    EXPECT_EQ(judge_sender(unknown, "a@shop.example", {}).reason, Refusal::account_suspended);
    EXPECT_EQ(judge_sender(shop(), "", {}).reason, Refusal::sender_domain);
    EXPECT_EQ(judge_sender(shop(), "a@bank.example", {}).reason, Refusal::sender_domain);
}

TEST(RejectionRow, TheMessageChecksNameTheirReasonWhereTheyDecide) {
    std::string looping;
    for (int i = 0; i < 3; ++i)
        looping += "Received: from x by y; Sun, 6 Dec 2026 00:00:00 +0000\r\n";
    EXPECT_EQ(judge_message(shop(), looping + "\r\nbody\r\n", {}, 2).reason, Refusal::mail_loop);
    EXPECT_EQ(judge_message(shop(), "From: a@bank.example\r\n\r\nbody\r\n", {}, 50).reason,
              Refusal::from_domain);
    EXPECT_EQ(judge_message(shop(), "Subject: no author\r\n\r\nbody\r\n", {}, 50).reason,
              Refusal::from_header);
}

}  // namespace
}  // namespace smarthost::policy
