// The asynchronous policy checks of the session machine: MAIL, RCPT and the end of the
// data section each wait for a verdict, which either lets the command through or
// replaces its reply.

#include <gtest/gtest.h>

#include "relay/smtp/data_reader.hpp"
#include "relay/smtp/session_machine.hpp"
#include "session_test_support.hpp"

namespace smarthost::smtp {
namespace {

using namespace testing_support;

SessionSettings policy_settings() {
    auto settings = tls_settings();
    settings.policy_checks = true;
    return settings;
}

Reply refusal(int code, std::string enhanced) {
    return Reply{code, std::move(enhanced), {"refused by policy"}};
}

TEST(SessionMachinePolicy, MailAsksAboutTheSenderBeforeAnswering) {
    auto machine = authenticated_machine(policy_settings());
    auto action = machine.on_line("MAIL FROM:<app@shop.example> SIZE=100");
    ASSERT_EQ(action.kind, Action::Kind::check_policy);
    EXPECT_EQ(action.policy.stage, PolicyStage::sender);
    EXPECT_EQ(action.policy.address, "app@shop.example");
    EXPECT_EQ(machine.envelope().sender, "app@shop.example");
    EXPECT_EQ(status(machine.on_policy_verdict(PolicyVerdict::proceed())), "250 2.1.0");
    EXPECT_EQ(machine.on_line("RCPT TO:<a@example.org>").kind, Action::Kind::check_policy);
}

TEST(SessionMachinePolicy, NullSenderIsAskedAboutWithAnEmptyAddress) {
    auto machine = authenticated_machine(policy_settings());
    auto action = machine.on_line("MAIL FROM:<>");
    ASSERT_EQ(action.kind, Action::Kind::check_policy);
    EXPECT_EQ(action.policy.address, "");
}

TEST(SessionMachinePolicy, RefusedSenderGetsTheVerdictsReplyAndNoTransaction) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<ceo@bank.example>");
    auto action = machine.on_policy_verdict(
        PolicyVerdict::refuse(refusal(553, "5.7.1"), Refusal::sender_domain));
    EXPECT_EQ(action.refusal, Refusal::sender_domain);  // the reason travels with the reply
    EXPECT_EQ(action.kind, Action::Kind::reply);
    EXPECT_EQ(status(action), "553 5.7.1");
    EXPECT_EQ(action.reply.lines.at(0), "refused by policy");
    EXPECT_EQ(machine.envelope().sender, "");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<a@example.org>")), "503 5.5.1");
    // The client may try again with another sender.
    EXPECT_EQ(machine.on_line("MAIL FROM:<app@shop.example>").kind, Action::Kind::check_policy);
}

TEST(SessionMachinePolicy, PolicyRefusalsAreNotCountedAsErrors) {
    auto settings = policy_settings();
    settings.max_errors = 2;
    auto machine = authenticated_machine(settings);
    for (int i = 0; i < 5; ++i) {
        machine.on_line("MAIL FROM:<ceo@bank.example>");
        auto action = machine.on_policy_verdict(
            PolicyVerdict::refuse(refusal(553, "5.7.1"), Refusal::sender_domain));
        EXPECT_EQ(action.kind, Action::Kind::reply);
    }
}

TEST(SessionMachinePolicy, TemporaryRefusalIsPassedThroughUnchanged) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    EXPECT_EQ(status(machine.on_policy_verdict(
                  PolicyVerdict::refuse(refusal(451, "4.7.1"), Refusal::rate_limit))),
              "451 4.7.1");
}

TEST(SessionMachinePolicy, RcptAsksAboutEachRecipient) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    auto action = machine.on_line("RCPT TO:<Bob@Example.ORG> NOTIFY=NEVER");
    ASSERT_EQ(action.kind, Action::Kind::check_policy);
    EXPECT_EQ(action.policy.stage, PolicyStage::recipient);
    EXPECT_EQ(action.policy.address, "Bob@Example.ORG");
    EXPECT_TRUE(machine.envelope().recipients.empty());  // not yet accepted
    EXPECT_EQ(status(machine.on_policy_verdict(PolicyVerdict::proceed())), "250 2.1.5");
    ASSERT_EQ(machine.envelope().recipients.size(), 1u);
    EXPECT_EQ(machine.envelope().recipients[0].domain, "example.org");
    EXPECT_EQ(machine.envelope().recipients[0].notify, "NEVER");
}

TEST(SessionMachinePolicy, RefusedRecipientIsLeftOutAndTheTransactionGoesOn) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());

    machine.on_line("RCPT TO:<gone@example.org>");
    EXPECT_EQ(status(machine.on_policy_verdict(
                  PolicyVerdict::refuse(refusal(550, "5.1.1"), Refusal::suppressed))),
              "550 5.1.1");
    // No recipient yet: DATA is still out of sequence.
    EXPECT_EQ(status(machine.on_line("DATA")), "503 5.5.1");

    machine.on_line("RCPT TO:<ok@example.org>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("RCPT TO:<gone@example.org>");
    machine.on_policy_verdict(PolicyVerdict::refuse(refusal(550, "5.1.1"), Refusal::suppressed));
    ASSERT_EQ(machine.envelope().recipients.size(), 1u);
    EXPECT_EQ(machine.envelope().recipients[0].address, "ok@example.org");
    EXPECT_EQ(machine.on_line("DATA").kind, Action::Kind::receive_data);
}

TEST(SessionMachinePolicy, RecipientLimitIsAnsweredBeforeAnyPolicyCheck) {
    auto machine = authenticated_machine(policy_settings());  // max_recipients = 3
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    for (int i = 0; i < 3; ++i) {
        machine.on_line("RCPT TO:<r" + std::to_string(i) + "@example.org>");
        machine.on_policy_verdict(PolicyVerdict::proceed());
    }
    EXPECT_EQ(status(machine.on_line("RCPT TO:<r4@example.org>")), "452 4.5.3");
}

TEST(SessionMachinePolicy, EndOfDataAsksAboutTheMessageBeforeEnqueueing) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("RCPT TO:<a@example.org>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("DATA");
    auto action = machine.on_data_end(DataResult::ok);
    ASSERT_EQ(action.kind, Action::Kind::check_policy);
    EXPECT_EQ(action.policy.stage, PolicyStage::message);
    EXPECT_EQ(machine.on_policy_verdict(PolicyVerdict::proceed()).kind, Action::Kind::enqueue);
    EXPECT_EQ(status(machine.on_enqueued("0190-abc")), "250 2.0.0");
}

TEST(SessionMachinePolicy, RefusedMessageEndsTheTransaction) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("RCPT TO:<a@example.org>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("DATA");
    machine.on_data_end(DataResult::ok);
    EXPECT_EQ(status(machine.on_policy_verdict(
                  PolicyVerdict::refuse(refusal(550, "5.7.1"), Refusal::from_domain))),
              "550 5.7.1");
    EXPECT_TRUE(machine.envelope().recipients.empty());
    EXPECT_EQ(status(machine.on_line("DATA")), "503 5.5.1");
    EXPECT_EQ(machine.on_line("MAIL FROM:<app@shop.example>").kind, Action::Kind::check_policy);
}

TEST(SessionMachinePolicy, BrokenDataIsRefusedWithoutAskingPolicy) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("RCPT TO:<a@example.org>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("DATA");
    EXPECT_EQ(status(machine.on_data_end(DataResult::bare_lf)), "554 5.6.0");
}

TEST(SessionMachinePolicy, CommandsWhileAVerdictIsPendingAreOutOfSequence) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<a@example.org>")), "503 5.5.1");
    // The verdict still completes the MAIL it belongs to.
    EXPECT_EQ(status(machine.on_policy_verdict(PolicyVerdict::proceed())), "250 2.1.0");
}

TEST(SessionMachinePolicy, VerdictWithoutACheckIsOutOfSequence) {
    auto machine = authenticated_machine(policy_settings());
    EXPECT_EQ(status(machine.on_policy_verdict(PolicyVerdict::proceed())), "503 5.5.1");
}

TEST(SessionMachinePolicy, UnidentifiedClientIsNotAskedAboutAndGets530AtRcpt) {
    auto machine = ready_machine(policy_settings());
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<spam@bank.example>")), "250 2.1.0");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<a@example.org>")), "530 5.7.0");
}

TEST(SessionMachinePolicy, AllowListedClientIsAskedAbout) {
    auto settings = policy_settings();
    settings.client_allowlisted = true;
    auto machine = ready_machine(settings);
    EXPECT_EQ(machine.on_line("MAIL FROM:<app@shop.example>").kind, Action::Kind::check_policy);
}

TEST(SessionMachinePolicy, WithoutPolicyChecksTheMachineDecidesAlone) {
    auto machine = authenticated_machine();
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<app@shop.example>")), "250 2.1.0");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<a@example.org>")), "250 2.1.5");
    machine.on_line("DATA");
    EXPECT_EQ(machine.on_data_end(DataResult::ok).kind, Action::Kind::enqueue);
}

TEST(SessionMachinePolicy, RsetAfterARefusedRecipientKeepsTheSessionUsable) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("RCPT TO:<gone@example.org>");
    machine.on_policy_verdict(PolicyVerdict::refuse(refusal(550, "5.1.1"), Refusal::suppressed));
    EXPECT_EQ(status(machine.on_line("RSET")), "250 2.0.0");
    EXPECT_EQ(machine.on_line("MAIL FROM:<app@shop.example>").kind, Action::Kind::check_policy);
}

TEST(SessionMachinePolicy, BouncedRecipientIsAcceptedButKeptApart) {
    auto machine = authenticated_machine(policy_settings());
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    machine.on_line("RCPT TO:<gone@example.org> NOTIFY=FAILURE");
    auto action = machine.on_policy_verdict(PolicyVerdict::accept_and_bounce(
        Reply{550, "5.1.1", {"Recipient <gone@example.org> is suppressed"}}));
    EXPECT_EQ(status(action), "250 2.1.5");
    EXPECT_TRUE(machine.envelope().recipients.empty());
    ASSERT_EQ(machine.envelope().bounced.size(), 1u);
    EXPECT_EQ(machine.envelope().bounced[0].recipient.address, "gone@example.org");
    EXPECT_EQ(machine.envelope().bounced[0].recipient.notify, "FAILURE");
    EXPECT_EQ(machine.envelope().bounced[0].reply,
              "550 5.1.1 Recipient <gone@example.org> is suppressed");
    // Only bounced recipients: DATA is still accepted, the client was told 250.
    EXPECT_EQ(machine.on_line("DATA").kind, Action::Kind::receive_data);
}

TEST(SessionMachinePolicy, BouncedRecipientsCountTowardsTheRecipientLimit) {
    auto machine = authenticated_machine(policy_settings());  // max_recipients = 3
    machine.on_line("MAIL FROM:<app@shop.example>");
    machine.on_policy_verdict(PolicyVerdict::proceed());
    for (int i = 0; i < 3; ++i) {
        machine.on_line("RCPT TO:<r" + std::to_string(i) + "@example.org>");
        machine.on_policy_verdict(
            PolicyVerdict::accept_and_bounce(Reply{550, "5.1.1", {"suppressed"}}));
    }
    EXPECT_EQ(status(machine.on_line("RCPT TO:<r4@example.org>")), "452 4.5.3");
}

}  // namespace
}  // namespace smarthost::smtp
