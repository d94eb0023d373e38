#include "relay/queue/failure_category.hpp"

#include <gtest/gtest.h>

#include <string>

namespace smarthost::queue {
namespace {

// A reply from the receiving server.
AttemptResult remote(int code, std::string enhanced, std::string text,
                     Verdict verdict = Verdict::permanent) {
    AttemptResult result;
    result.verdict = verdict;
    result.reply = smtp::Reply{code, std::move(enhanced), {std::move(text)}};
    result.remote = true;
    result.stage = Stage::rcpt;
    return result;
}

// One of delivery's own diagnoses.
AttemptResult local(int code, std::string enhanced, std::string text, Stage stage = Stage::local,
                    Verdict verdict = Verdict::temporary) {
    AttemptResult result = remote(code, std::move(enhanced), std::move(text), verdict);
    result.remote = false;
    result.stage = stage;
    return result;
}

std::string category(const AttemptResult& result) {
    return std::string(failure_category_name(classify_failure(result)));
}

TEST(FailureCategory, DeliveredHasNone) {
    EXPECT_EQ(classify_failure(remote(250, "2.0.0", "Ok", Verdict::delivered)),
              FailureCategory::none);
}

TEST(FailureCategory, TheCustomersListsAreTheirOwnCategories) {
    EXPECT_EQ(category(remote(550, "5.1.1",
                              "The email account that you tried to reach does "
                              "not exist")),
              "bad_mailbox");
    EXPECT_EQ(category(remote(550, "", "Requested action not taken: mailbox unavailable")),
              "bad_mailbox");
    EXPECT_EQ(category(remote(550, "5.1.2", "Host unknown")), "bad_domain");
    EXPECT_EQ(category(local(0, "5.1.10", "null MX: example.org accepts no mail", Stage::local,
                             Verdict::permanent)),
              "bad_domain");
    EXPECT_EQ(category(remote(452, "4.2.2",
                              "The email account that you tried to reach is over "
                              "quota",
                              Verdict::temporary)),
              "mailbox_full");
    EXPECT_EQ(category(remote(552, "5.3.4", "Message size exceeds fixed maximum message size")),
              "message_size");
}

TEST(FailureCategory, TheBigReceiversPushBackAndBlocks) {
    EXPECT_EQ(category(remote(421, "4.7.28",
                              "Our system has detected an unusual rate of "
                              "unsolicited mail originating from your IP address",
                              Verdict::temporary)),
              "rate_limited");  // Gmail: the rate, though it says unsolicited
    EXPECT_EQ(category(remote(451, "4.7.650",
                              "The mail server [192.0.2.1] has been temporarily "
                              "rate limited due to IP reputation",
                              Verdict::temporary)),
              "rate_limited");  // Microsoft
    EXPECT_EQ(category(remote(421, "4.7.0",
                              "[TSS04] Messages from 192.0.2.1 temporarily "
                              "deferred due to unexpected volume",
                              Verdict::temporary)),
              "rate_limited");  // Yahoo
    EXPECT_EQ(category(remote(550, "5.7.606", "Access denied, banned sending IP [192.0.2.1]")),
              "reputation");
    EXPECT_EQ(category(remote(554, "5.7.1",
                              "Service unavailable; Client host [192.0.2.1] "
                              "blocked using zen.spamhaus.org")),
              "reputation");
    EXPECT_EQ(category(remote(550, "5.7.26",
                              "Unauthenticated email from example.com is not "
                              "accepted due to domain's DMARC policy")),
              "authentication");
    EXPECT_EQ(category(remote(550, "5.7.515",
                              "Access denied, sending domain does not meet the "
                              "required authentication level")),
              "authentication");
    EXPECT_EQ(category(remote(550, "5.7.1",
                              "Our system has detected that this message is "
                              "likely unsolicited mail")),
              "spam_content");
    EXPECT_EQ(category(remote(550, "5.7.1", "Relaying denied")), "policy");
}

TEST(FailureCategory, DeliverysOwnDiagnoses) {
    EXPECT_EQ(category(local(451, "4.4.1", "Connection failed: refused", Stage::connect)),
              "connection");
    EXPECT_EQ(category(local(451, "4.4.2", "Connection lost during DATA", Stage::data)),
              "connection");
    EXPECT_EQ(category(local(451, "4.4.2", "Timed out waiting for the reply to RCPT", Stage::rcpt)),
              "timeout");
    EXPECT_EQ(category(local(451, "4.7.5", "TLS handshake failed: alert", Stage::starttls)), "tls");
    EXPECT_EQ(category(local(451, "4.7.4", "TLS is required, but was not offered", Stage::ehlo)),
              "tls");
    EXPECT_EQ(category(local(0, "4.4.3", "DNS lookup of MX for example.org failed")), "dns");
    EXPECT_EQ(category(local(0, "4.4.4", "no usable mail exchanger for example.org")),
              "connection");
    EXPECT_EQ(category(local(0, "5.4.4", "mx.example.org does not resolve", Stage::local,
                             Verdict::permanent)),
              "bad_domain");
}

TEST(FailureCategory, WhatNothingExplainsIsOther) {
    EXPECT_EQ(category(remote(451, "4.3.0", "Temporary local problem", Verdict::temporary)),
              "other");
}

}  // namespace
}  // namespace smarthost::queue
