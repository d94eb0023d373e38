#include "relay/delivery/bounce_reports.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace smarthost::delivery {
namespace {

using namespace std::chrono_literals;
using queue::AttemptResult;
using queue::RecipientState;
using queue::Settlement;

const TimePoint now = TimePoint(std::chrono::seconds(1'700'000'000));

DsnSettings settings() {
    DsnSettings result;
    result.reporting_host = "relay.example.net";
    return result;
}

// One message to three recipients with the given NOTIFY values, all deferred by 451.
struct Fixture {
    queue::ClaimedMessage message;
    std::vector<AttemptResult> results;
    std::vector<Settlement> settlements;

    explicit Fixture(const std::vector<std::string>& notify) {
        message.id = "0123456789abcdef0123456789abcdef";
        message.account_id = 7;
        message.sender = "owner@shop.example";
        message.received_at = now - 5h;
        message.body = std::make_shared<const std::string>("Subject: order 42\r\n\r\nbody\r\n");
        for (std::size_t i = 0; i < notify.size(); ++i) {
            queue::ClaimedRecipient recipient;
            recipient.id = static_cast<std::int64_t>(11 + i);
            recipient.address = "r" + std::to_string(i) + "@example.org";
            recipient.notify = notify[i];
            message.recipients.push_back(recipient);
        }
        for (const auto& recipient : message.recipients) {
            AttemptResult result;
            result.message = &message;
            result.recipient = &recipient;
            result.verdict = queue::Verdict::temporary;
            result.reply = smtp::Reply{451, "4.2.2", {"Mailbox over quota, try later"}};
            result.remote = true;
            result.peer.host = "mx1.example.org";
            results.push_back(result);
            Settlement settlement;
            settlement.state = RecipientState::deferred;
            settlement.next_attempt_at = now + 10min;
            settlement.warn_delay = true;
            settlement.retry_until = message.received_at + 5 * 24h;
            settlements.push_back(settlement);
        }
    }
};

TEST(BounceReports, DelayWarningListsTheDeferredRecipientsThatAskForIt) {
    // Absent NOTIFY means FAILURE,DELAY (RFC 3461 4.1, our choice); FAILURE alone does not
    // ask; NEVER asks for nothing.
    Fixture fixture({"", "FAILURE", "DELAY", "NEVER"});
    const auto reports = bounce_reports(settings(), fixture.results, fixture.settlements, now);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].reported_recipients, (std::vector<std::int64_t>{11, 13}));
    const std::string& body = reports[0].message.body;
    EXPECT_NE(body.find("Subject: Delayed Mail (still being retried)"), std::string::npos) << body;
    EXPECT_NE(body.find("Final-Recipient: rfc822;r0@example.org"), std::string::npos) << body;
    EXPECT_NE(body.find("Final-Recipient: rfc822;r2@example.org"), std::string::npos) << body;
    EXPECT_EQ(body.find("r1@example.org"), std::string::npos) << body;
    EXPECT_EQ(body.find("r3@example.org"), std::string::npos) << body;
    EXPECT_NE(body.find("Action: delayed"), std::string::npos) << body;
    EXPECT_NE(body.find("Status: 4.2.2"), std::string::npos) << body;
    EXPECT_NE(body.find("Diagnostic-Code: smtp; 451 4.2.2 Mailbox over quota, try later"),
              std::string::npos)
        << body;
    // received 5 h before `now`, retried for 5 days: 2023-11-19T17:13:20Z.
    EXPECT_NE(body.find("Will-Retry-Until: Sun, 19 Nov 2023 17:13:20 +0000"), std::string::npos)
        << body;
}

TEST(BounceReports, NoDelayWarningUnlessSettlingDecidedOne) {
    Fixture fixture({"", "DELAY"});
    for (auto& settlement : fixture.settlements)
        settlement.warn_delay = false;
    EXPECT_TRUE(bounce_reports(settings(), fixture.results, fixture.settlements, now).empty());
}

TEST(BounceReports, DelayedStatusIsTemporaryEvenForALocalDiagnosis) {
    Fixture fixture({""});
    fixture.results[0].reply = smtp::Reply{0, "", {"no usable mail exchanger"}};
    fixture.results[0].remote = false;
    const auto reports = bounce_reports(settings(), fixture.results, fixture.settlements, now);
    ASSERT_EQ(reports.size(), 1u);
    const std::string& body = reports[0].message.body;
    EXPECT_NE(body.find("Status: 4.0.0"), std::string::npos) << body;
    EXPECT_EQ(body.find("Remote-MTA"), std::string::npos) << body;
}

TEST(BounceReports, OneReportPerMessageMixesFailedAndDelayedRecipients) {
    Fixture fixture({"", ""});
    fixture.results[0].verdict = queue::Verdict::permanent;
    fixture.results[0].reply = smtp::Reply{550, "5.1.1", {"No such user"}};
    fixture.settlements[0].state = RecipientState::bounced;
    fixture.settlements[0].warn_delay = false;
    const auto reports = bounce_reports(settings(), fixture.results, fixture.settlements, now);
    ASSERT_EQ(reports.size(), 1u);
    const std::string& body = reports[0].message.body;
    EXPECT_NE(body.find("Action: failed"), std::string::npos) << body;
    EXPECT_NE(body.find("Action: delayed"), std::string::npos) << body;
}

TEST(BounceReports, MessageWithOtherDomainsLeavesItsLinesInTheSettlements) {
    Fixture fixture({"", "FAILURE"});
    fixture.message.other_domains = true;
    fixture.results[1].verdict = queue::Verdict::permanent;
    fixture.results[1].reply = smtp::Reply{550, "5.1.1", {"No such user"}};
    fixture.settlements[1].state = RecipientState::bounced;
    EXPECT_TRUE(bounce_reports(settings(), fixture.results, fixture.settlements, now).empty());
    ASSERT_TRUE(fixture.settlements[0].pending_report);
    EXPECT_EQ(fixture.settlements[0].pending_report->action, "delayed");
    EXPECT_EQ(fixture.settlements[0].pending_report->status, "4.2.2");
    EXPECT_EQ(fixture.settlements[0].pending_report->remote_mta, "mx1.example.org");
    EXPECT_EQ(fixture.settlements[0].pending_report->diagnostic,
              "451 4.2.2 Mailbox over quota, try later");
    ASSERT_TRUE(fixture.settlements[1].pending_report);
    EXPECT_EQ(fixture.settlements[1].pending_report->action, "failed");
    EXPECT_EQ(fixture.settlements[1].pending_report->status, "5.1.1");
}

TEST(BounceReports, LostLeasesReportNothing) {
    Fixture fixture({""});
    fixture.settlements[0].state = RecipientState::lease_lost;
    EXPECT_TRUE(bounce_reports(settings(), fixture.results, fixture.settlements, now).empty());
}

TEST(BounceReports, NoReportForTheNullSender) {
    Fixture fixture({""});
    fixture.message.sender.clear();
    EXPECT_TRUE(bounce_reports(settings(), fixture.results, fixture.settlements, now).empty());
}

}  // namespace
}  // namespace smarthost::delivery
