#include "relay/smtp/received_header.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace smarthost::smtp {
namespace {

ReceivedFields full_fields() {
    ReceivedFields f;
    f.helo = "client.example";
    f.client_ip = "192.0.2.7";
    f.by_hostname = "relay.example";
    f.protocol = "ESMTPSA";
    f.tls_version = "TLSv1.3";
    f.tls_cipher = "TLS_AES_256_GCM_SHA384";
    f.queue_id = "01HXYZ";
    f.single_recipient = "bob@dest.example";
    f.date = "Tue, 24 Nov 2026 10:00:00 +0000";
    return f;
}

TEST(ReceivedHeader, ContainsEveryFieldFolded) {
    EXPECT_EQ(received_header(full_fields()),
              "Received: from client.example ([192.0.2.7])\r\n"
              "\tby relay.example (smarthost) with ESMTPSA id 01HXYZ\r\n"
              "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
              "\tfor <bob@dest.example>;\r\n"
              "\tTue, 24 Nov 2026 10:00:00 +0000\r\n");
}

TEST(ReceivedHeader, OmitsTlsAndForWhenEmpty) {
    auto f = full_fields();
    f.tls_version.clear();
    f.tls_cipher.clear();
    f.single_recipient.clear();
    f.protocol = "ESMTPA";
    EXPECT_EQ(received_header(f),
              "Received: from client.example ([192.0.2.7])\r\n"
              "\tby relay.example (smarthost) with ESMTPA id 01HXYZ;\r\n"
              "\tTue, 24 Nov 2026 10:00:00 +0000\r\n");
}

TEST(ReceivedHeader, Ipv6ClientIsAnAddressLiteral) {
    auto f = full_fields();
    f.client_ip = "2001:db8::1";
    EXPECT_NE(received_header(f).find("([IPv6:2001:db8::1])"), std::string::npos);
}

TEST(ReceivedHeader, HeloCannotInjectHeaderLines) {
    auto f = full_fields();
    f.helo = "evil\r\nX-Injected: yes\r\n\r\nbody (comment) ; \x01\x7f";
    f.single_recipient = "a@b\r\nBcc: victim@x";
    auto header = received_header(f);
    // Every CRLF is followed by a tab: one header field, folded, nothing else.
    std::regex stray_line_break("\r\n[^\t]");
    auto without_final = header.substr(0, header.size() - 2);
    EXPECT_FALSE(std::regex_search(without_final, stray_line_break)) << header;
    EXPECT_EQ(header.find('\x01'), std::string::npos);
    EXPECT_EQ(header.find('\x7f'), std::string::npos);
    EXPECT_EQ(header.find('\n', 0), header.find("\r\n") + 1);
    EXPECT_NE(header.find("from evilX-Injected:yesbodycomment ([192.0.2.7])"), std::string::npos)
        << header;
    EXPECT_EQ(header.find("\r\nBcc"), std::string::npos);
}

TEST(ReceivedHeader, HeloIsCappedInLength) {
    auto f = full_fields();
    f.helo = std::string(5000, 'a');
    auto header = received_header(f);
    auto first_line = header.substr(0, header.find("\r\n"));
    EXPECT_LT(first_line.size(), 300u);
}

TEST(ReceivedHeader, EmptyHeloIsUnknown) {
    auto f = full_fields();
    f.helo = "\r\n";
    EXPECT_EQ(received_header(f).rfind("Received: from unknown ([192.0.2.7])\r\n", 0), 0u);
}

TEST(ReceivedHeader, FormatsRfc5322DatesInUtc) {
    EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    EXPECT_EQ(rfc5322_date(1795514400), "Tue, 24 Nov 2026 10:00:00 +0000");
    EXPECT_EQ(rfc5322_date(951782400), "Tue, 29 Feb 2000 00:00:00 +0000");
}

TEST(ReceivedHeader, DateNowHasTheRfc5322Shape) {
    std::regex shape(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000)");
    EXPECT_TRUE(std::regex_match(rfc5322_date_now(), shape)) << rfc5322_date_now();
}

}  // namespace
}  // namespace smarthost::smtp
