#include "relay/policy/sender_authorization.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

AccountPolicy shop() {
    AccountPolicy account;
    account.account_id = 7;
    account.name = "shop";
    account.sender_domains = {{"shop.example", false, true},
                              {"brand.example", true, true},
                              {"pending.example", false, false}};
    return account;
}

std::string status(const smtp::PolicyVerdict& verdict) {
    if (!verdict.refused()) return "proceed";
    return std::to_string(verdict.refusal->code) + " " + verdict.refusal->enhanced;
}

std::string text(const smtp::PolicyVerdict& verdict) {
    return verdict.refused() ? verdict.refusal->lines.at(0) : "";
}

constexpr SenderRules k_verified{true};
constexpr SenderRules k_unverified{false};
constexpr std::size_t k_hops = 50;

TEST(JudgeSender, VerifiedDomainIsAccepted) {
    EXPECT_EQ(status(judge_sender(shop(), "app@shop.example", k_verified)), "proceed");
    EXPECT_EQ(status(judge_sender(shop(), "App@SHOP.Example", k_verified)), "proceed");
}

TEST(JudgeSender, SubdomainNeedsIncludeSubdomains) {
    EXPECT_EQ(status(judge_sender(shop(), "news@mail.brand.example", k_verified)), "proceed");
    EXPECT_EQ(status(judge_sender(shop(), "news@mail.shop.example", k_verified)), "553 5.7.1");
}

TEST(JudgeSender, ForeignDomainIsRefusedWith553NamingIt) {
    auto verdict = judge_sender(shop(), "ceo@bank.example", k_verified);
    EXPECT_EQ(status(verdict), "553 5.7.1");
    EXPECT_NE(text(verdict).find("bank.example"), std::string::npos) << text(verdict);
    EXPECT_NE(text(verdict).find("shop"), std::string::npos) << text(verdict);
}

TEST(JudgeSender, PendingDomainAuthorizesOnlyWithoutVerification) {
    EXPECT_EQ(status(judge_sender(shop(), "a@pending.example", k_verified)), "553 5.7.1");
    EXPECT_EQ(status(judge_sender(shop(), "a@pending.example", k_unverified)), "proceed");
}

TEST(JudgeSender, AccountWithoutSenderDomainsMaySendAsNobody) {
    AccountPolicy account = shop();
    account.sender_domains.clear();
    auto verdict = judge_sender(account, "a@anything.example", k_unverified);
    EXPECT_EQ(status(verdict), "553 5.7.1");
    EXPECT_EQ(text(verdict), "Account shop has no verified sender domain");
}

TEST(JudgeSender, AccountWithOnlyPendingDomainsHasNoVerifiedDomain) {
    AccountPolicy account = shop();
    account.sender_domains = {{"pending.example", false, false}};
    EXPECT_EQ(text(judge_sender(account, "a@pending.example", k_verified)),
              "Account shop has no verified sender domain");
}

TEST(JudgeSender, SuspendedAccountIsRefusedWith550NamingTheReason) {
    AccountPolicy account = shop();
    account.suspended = true;
    account.suspended_reason = "compromised WordPress";
    auto verdict = judge_sender(account, "app@shop.example", k_verified);
    EXPECT_EQ(status(verdict), "550 5.7.1");
    EXPECT_EQ(text(verdict), "Account shop is suspended: compromised WordPress");
    account.suspended_reason.clear();
    EXPECT_EQ(text(judge_sender(account, "app@shop.example", k_verified)),
              "Account shop is suspended");
}

TEST(JudgeSender, SuspensionComesBeforeTheNullSender) {
    AccountPolicy account = shop();
    account.suspended = true;
    account.may_send_null_sender = true;
    EXPECT_EQ(status(judge_sender(account, "", k_verified)), "550 5.7.1");
}

TEST(JudgeSender, DeletedAccountIsRefused) {
    AccountPolicy account = shop();
    account.exists = false;
    EXPECT_EQ(status(judge_sender(account, "app@shop.example", k_verified)), "550 5.7.1");
}

TEST(JudgeSender, NullSenderNeedsThePermission) {
    AccountPolicy account = shop();
    EXPECT_EQ(status(judge_sender(account, "", k_verified)), "553 5.7.1");
    account.may_send_null_sender = true;
    EXPECT_EQ(status(judge_sender(account, "", k_verified)), "proceed");
    account.sender_domains.clear();  // bounces carry no sender domain to check
    EXPECT_EQ(status(judge_sender(account, "", k_verified)), "proceed");
}

TEST(JudgeMessage, AuthorizedFromIsAccepted) {
    EXPECT_EQ(status(judge_message(shop(), "From: Shop <info@Shop.Example>\r\n\r\nhi\r\n",
                                   k_verified, k_hops)),
              "proceed");
    EXPECT_EQ(
        status(judge_message(shop(), "From: news@x.brand.example\r\n\r\n", k_verified, k_hops)),
        "proceed");
}

TEST(JudgeMessage, ForeignFromIsRefusedWith550) {
    auto verdict =
        judge_message(shop(), "From: CEO <ceo@bank.example>\r\n\r\n", k_verified, k_hops);
    EXPECT_EQ(status(verdict), "550 5.7.1");
    EXPECT_NE(text(verdict).find("bank.example"), std::string::npos);
}

TEST(JudgeMessage, EveryFromAddressMustBeAuthorized) {
    EXPECT_EQ(
        status(judge_message(
            shop(), "From: a@shop.example, ceo@bank.example\r\nSender: a@shop.example\r\n\r\n",
            k_verified, k_hops)),
        "550 5.7.1");
    EXPECT_EQ(status(judge_message(
                  shop(), "From: a@shop.example, b@brand.example\r\nSender: a@shop.example\r\n\r\n",
                  k_verified, k_hops)),
              "proceed");
}

TEST(JudgeMessage, BrokenAuthorFieldsAreRefusedWith550_5_6_0) {
    auto verdict = judge_message(shop(), "Subject: no author\r\n\r\n", k_verified, k_hops);
    EXPECT_EQ(status(verdict), "550 5.6.0");
    EXPECT_EQ(text(verdict), "Message rejected: no From: header field (RFC 5322 section 3.6)");
    EXPECT_EQ(status(judge_message(shop(), "From: a@shop.example, b@shop.example\r\n\r\n",
                                   k_verified, k_hops)),
              "550 5.6.0");
}

TEST(JudgeMessage, PendingFromDomainAuthorizesOnlyWithoutVerification) {
    const std::string message = "From: a@pending.example\r\n\r\n";
    EXPECT_EQ(status(judge_message(shop(), message, k_verified, k_hops)), "550 5.7.1");
    EXPECT_EQ(status(judge_message(shop(), message, k_unverified, k_hops)), "proceed");
}

TEST(JudgeMessage, SenderAndResentAuthorsNeedTheAccountsDomainsToo) {
    for (const char* field : {"Sender", "Resent-From", "Resent-Sender"}) {
        const std::string message =
            std::string("From: a@shop.example\r\n") + field + ": CEO <ceo@bank.example>\r\n\r\n";
        const auto verdict = judge_message(shop(), message, k_verified, k_hops);
        EXPECT_EQ(status(verdict), "550 5.7.1") << field;
        EXPECT_EQ(text(verdict), "Message rejected: " + std::string(field) +
                                     ": header domain bank.example is not a verified sender "
                                     "domain of account shop");
    }
    EXPECT_EQ(status(judge_message(shop(),
                                   "From: a@shop.example\r\nSender: b@brand.example\r\n"
                                   "Resent-From: c@x.brand.example\r\n"
                                   "Resent-Sender: d@Shop.Example\r\n\r\n",
                                   k_verified, k_hops)),
              "proceed");
}

TEST(JudgeMessage, AuthorFieldTooLongToCheckIsRefusedWith550_5_7_1) {
    // Cut at 998 octets this was "info@shop.example, ,,,..." and passed.
    const std::string cut_to_pass = "From: info@shop.example,\r\n " + std::string(500, ',') +
                                    "\r\n " + std::string(600, ',') +
                                    "\r\n ceo@bank.example\r\n\r\n";
    EXPECT_EQ(status(judge_message(shop(), cut_to_pass, k_verified, k_hops)), "550 5.7.1");
    const std::string message =
        "From: a@shop.example,\r\n \"" + std::string(1000, 'x') +
        "\"@shop.example, ceo@bank.example\r\nSender: a@shop.example\r\n\r\n";
    const auto verdict = judge_message(shop(), message, k_verified, k_hops);
    EXPECT_EQ(status(verdict), "550 5.7.1");
    EXPECT_EQ(text(verdict),
              "Message rejected: From: header field longer than 998 octets; it cannot be checked "
              "against the account's sender domains");
}

TEST(JudgeMessage, MoreReceivedFieldsThanTheLimitIsAMailLoop) {
    std::string trace;
    for (int i = 0; i < 5; ++i)
        trace += "Received: from hop" + std::to_string(i) +
                 ".example by relay.example;\r\n"
                 "\tTue, 1 Dec 2026 10:00:00 +0000\r\n";
    const std::string message = trace + "From: a@shop.example\r\n\r\nReceived: in body\r\n";
    EXPECT_EQ(status(judge_message(shop(), message, k_verified, 5)), "proceed");
    const auto verdict = judge_message(shop(), message, k_verified, 4);
    EXPECT_EQ(status(verdict), "554 5.4.6");
    EXPECT_EQ(text(verdict),
              "Message rejected: too many Received: header fields (5, at most 4): mail loop?");
    // The loop is named before anything else is wrong with the message.
    EXPECT_EQ(status(judge_message(shop(), trace + "\r\n", k_verified, 4)), "554 5.4.6");
}

}  // namespace
}  // namespace smarthost::policy
