#include "relay/delivery/cancel_report.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace smarthost::delivery {
namespace {

const TimePoint now = TimePoint(std::chrono::seconds(1'700'000'000));

DsnSettings settings() {
    DsnSettings result;
    result.reporting_host = "relay.example.net";
    return result;
}

CancelledMessage cancelled(std::string sender) {
    CancelledMessage message;
    message.account_id = 7;
    message.sender = std::move(sender);
    message.received_at = now - std::chrono::hours(1);
    message.content = "Subject: order 42\r\n\r\nbody\r\n";
    message.recipients.push_back({11, "a@example.org", "", ""});
    message.recipients.push_back({12, "b@example.org", "rfc822;B@example.org", "NEVER"});
    message.recipients.push_back({13, "c@example.org", "", "FAILURE"});
    return message;
}

TEST(CancelReport, ListsTheCancelledRecipientsThatAskForFailures) {
    const auto report = cancel_report(settings(), cancelled("owner@shop.example"), now, "0abc");
    ASSERT_TRUE(report);
    EXPECT_EQ(report->reported, (std::vector<std::int64_t>{11, 13}));
    const auto& message = report->message;
    EXPECT_EQ(message.id, "0abc");
    EXPECT_EQ(message.account_id, 7);
    EXPECT_EQ(message.envelope.sender, "");
    ASSERT_EQ(message.envelope.recipients.size(), 1u);
    EXPECT_EQ(message.envelope.recipients[0].address, "owner@shop.example");
    const std::string& body = message.body;
    EXPECT_NE(body.find("Final-Recipient: rfc822;a@example.org"), std::string::npos) << body;
    EXPECT_NE(body.find("Final-Recipient: rfc822;c@example.org"), std::string::npos) << body;
    EXPECT_EQ(body.find("b@example.org"), std::string::npos) << body;
    EXPECT_NE(body.find("Status: 5.0.0"), std::string::npos) << body;
    EXPECT_NE(body.find("Diagnostic-Code: smtp; 550 5.0.0 Delivery cancelled by the relay "
                        "operator"),
              std::string::npos)
        << body;
    EXPECT_EQ(body.find("Remote-MTA"), std::string::npos) << body;  // our own decision
    EXPECT_NE(body.find("Subject: order 42"), std::string::npos) << body;
}

TEST(CancelReport, NoneForTheNullSenderOrWhenNobodyAsks) {
    EXPECT_FALSE(cancel_report(settings(), cancelled(""), now, "0abc"));
    auto quiet = cancelled("owner@shop.example");
    for (auto& recipient : quiet.recipients)
        recipient.notify = "SUCCESS,DELAY";
    EXPECT_FALSE(cancel_report(settings(), quiet, now, "0abc"));
}

}  // namespace
}  // namespace smarthost::delivery
