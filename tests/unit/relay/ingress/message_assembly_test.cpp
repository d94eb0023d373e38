#include "relay/ingress/message_assembly.hpp"

#include <gtest/gtest.h>

namespace smarthost::ingress {
namespace {

MessageOrigin origin() {
    MessageOrigin origin;
    origin.account_id = 7;
    origin.credential_id = 11;
    origin.client_ip = "192.0.2.10";
    origin.helo = "client.example";
    origin.protocol = "ESMTPSA";
    origin.tls_version = "TLSv1.3";
    origin.tls_cipher = "TLS_AES_256_GCM_SHA384";
    return origin;
}

smtp::Envelope envelope(std::size_t recipients) {
    smtp::Envelope envelope;
    envelope.sender = "a@sender.example";
    for (std::size_t i = 0; i < recipients; ++i)
        envelope.recipients.push_back(
            {"r" + std::to_string(i) + "@dest.example", "dest.example", "", ""});
    return envelope;
}

constexpr const char* k_date = "Sun, 06 Dec 2026 23:00:00 +0000";

TEST(TraceFields, AReceivedFieldNamesTheClientTheIdAndTheOneRecipient) {
    const auto fields =
        trace_fields(origin(), envelope(1), "relay.example", "0123abcd", "", "", k_date);
    EXPECT_TRUE(fields.starts_with("Received: from client.example")) << fields;
    EXPECT_NE(fields.find("192.0.2.10"), std::string::npos) << fields;
    EXPECT_NE(fields.find("by relay.example"), std::string::npos) << fields;
    EXPECT_NE(fields.find("with ESMTPSA id 0123abcd"), std::string::npos) << fields;
    EXPECT_NE(fields.find("for <r0@dest.example>"), std::string::npos) << fields;
    EXPECT_TRUE(fields.ends_with(std::string(k_date) + "\r\n")) << fields;
    EXPECT_EQ(fields.find("X-Smarthost-DNSBL"), std::string::npos);
}

TEST(TraceFields, NoRecipientIsNamedForSeveral) {
    const auto fields =
        trace_fields(origin(), envelope(2), "relay.example", "0123abcd", "", "", k_date);
    EXPECT_EQ(fields.find(" for <"), std::string::npos) << fields;
}

TEST(TraceFields, TagListingsOfClientAndSenderDomainJoinInOneHeader) {
    EXPECT_TRUE(trace_fields(origin(), envelope(1), "relay.example", "id", "zone.a=127.0.0.2",
                             "zone.b=127.0.0.3", k_date)
                    .ends_with("X-Smarthost-DNSBL: zone.a=127.0.0.2, zone.b=127.0.0.3\r\n"));
    EXPECT_TRUE(
        trace_fields(origin(), envelope(1), "relay.example", "id", "", "zone.b=127.0.0.3", k_date)
            .ends_with("X-Smarthost-DNSBL: zone.b=127.0.0.3\r\n"));
}

TEST(AssembleMessage, TheMessageCarriesItsOwnerEnvelopeAndTheMessageIdOfTheDataNotThePrefix) {
    const std::string prefix = "Received: from x\r\n\tMessage-ID: <not-this@x>\r\n";
    const std::string data = "Message-ID: <m1@sender.example>\r\nSubject: hi\r\n\r\nbody\r\n";
    const auto message = assemble_message(origin(), envelope(1), "id1", prefix + data,
                                          prefix.size(), "relay.example", {});
    EXPECT_EQ(message.id, "id1");
    EXPECT_EQ(message.account_id, 7);
    EXPECT_EQ(message.credential_id, 11);
    EXPECT_EQ(message.client_ip, "192.0.2.10");
    EXPECT_EQ(message.client_helo, "client.example");
    EXPECT_EQ(message.tls_version, "TLSv1.3");
    EXPECT_EQ(message.envelope.sender, "a@sender.example");
    EXPECT_EQ(message.body, prefix + data);
    EXPECT_EQ(message.header_message_id, "<m1@sender.example>");
    EXPECT_TRUE(message.reports.empty());
}

TEST(AssembleMessage, RecipientsBouncedAtSubmissionComeWithTheirReport) {
    auto with_bounce = envelope(1);
    with_bounce.bounced.push_back(
        {{"gone@dest.example", "dest.example", "", ""}, "550 5.1.1 suppressed"});
    const auto message =
        assemble_message(origin(), with_bounce, "id2", "Subject: hi\r\n\r\nbody\r\n", 0,
                         "relay.example", std::chrono::system_clock::time_point{});
    ASSERT_EQ(message.reports.size(), 1u);
    EXPECT_EQ(message.reports[0].envelope.sender, "");
    ASSERT_EQ(message.reports[0].envelope.recipients.size(), 1u);
    EXPECT_EQ(message.reports[0].envelope.recipients[0].address, "a@sender.example");
}

}  // namespace
}  // namespace smarthost::ingress
