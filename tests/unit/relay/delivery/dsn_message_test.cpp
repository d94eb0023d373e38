#include "relay/delivery/dsn_message.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace smarthost::delivery {
namespace {

const TimePoint now = TimePoint(std::chrono::seconds(1'700'000'000));
const std::string original_content = "Subject: hello\r\n\r\nbody\r\n";

DsnSettings settings() {
    DsnSettings result;
    result.reporting_host = "relay.example.net";
    return result;
}

DsnOriginal original(std::string sender) {
    DsnOriginal result;
    result.sender = std::move(sender);
    result.received_at = now;
    result.content = original_content;
    return result;
}

std::vector<DsnRecipient> one_failed(std::string notify = "") {
    DsnRecipient recipient;
    recipient.address = "gone@example.org";
    recipient.notify = std::move(notify);
    recipient.action = DsnAction::failed;
    recipient.diagnostic = "550 5.1.1 no such user";
    recipient.last_attempt = now;
    return {recipient};
}

TEST(DsnMessage, IsTheDsnStoredUnderTheOriginalAccountWithTheGivenId) {
    const std::string id = "0190b2f4c3a47000800000000000abcd";
    auto report =
        dsn_message(settings(), original("sender@example.com"), one_failed(), 42, now, id);
    ASSERT_TRUE(report);
    auto dsn = build_dsn(settings(), original("sender@example.com"), one_failed(), now, id);
    ASSERT_TRUE(dsn);

    EXPECT_EQ(report->id, id);
    EXPECT_EQ(report->account_id, 42);
    EXPECT_EQ(report->credential_id, std::nullopt);
    EXPECT_EQ(report->client_ip, "127.0.0.1");
    EXPECT_EQ(report->client_helo, "relay.example.net");
    EXPECT_EQ(report->tls_version, "");
    EXPECT_EQ(report->body, dsn->content);
    EXPECT_EQ(report->header_message_id, "<" + id + "@relay.example.net>");
    EXPECT_EQ(report->envelope.sender, "");
    ASSERT_EQ(report->envelope.recipients.size(), 1u);
    EXPECT_EQ(report->envelope.recipients[0].address, "sender@example.com");
    EXPECT_TRUE(report->reports.empty());
}

TEST(DsnMessage, NothingForTheNullSender) {
    EXPECT_FALSE(dsn_message(settings(), original(""), one_failed(), 42, now, "id1"));
}

TEST(DsnMessage, NothingWhenNoRecipientAsksForAFailureReport) {
    EXPECT_FALSE(dsn_message(settings(), original("sender@example.com"), one_failed("NEVER"), 42,
                             now, "id2"));
}

}  // namespace
}  // namespace smarthost::delivery
