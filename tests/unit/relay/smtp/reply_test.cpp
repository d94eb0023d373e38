#include "relay/smtp/reply.hpp"

#include <gtest/gtest.h>

namespace smarthost::smtp {
namespace {

TEST(Reply, SingleLineCarriesCodeEnhancedCodeAndText) {
    EXPECT_EQ(reply::ok().wire(), "250 2.0.0 Ok\r\n");
}

TEST(Reply, MultiLineUsesDashContinuationAndEnhancedCodeOnEveryLine) {
    Reply r{550, "5.1.1", {"first", "second", "last"}};
    EXPECT_EQ(r.wire(), "550-5.1.1 first\r\n550-5.1.1 second\r\n550 5.1.1 last\r\n");
}

TEST(Reply, EhloLinesCarryNoEnhancedCode) {
    auto r = reply::ehlo("mx.example", "client.example", {"PIPELINING", "DSN"});
    EXPECT_EQ(r.wire(), "250-mx.example Hello client.example\r\n250-PIPELINING\r\n250 DSN\r\n");
}

TEST(Reply, SummaryIsOneLineWithTheLinesJoined) {
    EXPECT_EQ((Reply{550, "5.1.1", {"first", "", "second"}}.summary()), "550 5.1.1 first; second");
    EXPECT_EQ((Reply{451, "", {"try later"}}.summary()), "451 try later");
    EXPECT_EQ((Reply{250, "2.0.0", {}}.summary()), "250 2.0.0");
}

TEST(Reply, SummaryOfALocalDiagnosisHasNoCode) {
    // Code 0: never said on the wire, stored as "5.1.10 null MX ..." (RFC 7505).
    EXPECT_EQ((Reply{0, "5.1.10", {"null MX"}}.summary()), "5.1.10 null MX");
    EXPECT_EQ((Reply{0, "", {"x"}}.summary()), "x");
}

TEST(Reply, StatusIsTheEnhancedCodeElseTheClassDefault) {
    EXPECT_EQ((Reply{550, "5.1.1", {}}.status()), "5.1.1");
    EXPECT_EQ((Reply{554, "", {"transaction failed"}}.status()), "5.0.0");  // RFC 3463
    EXPECT_EQ((Reply{421, "", {}}.status()), "4.0.0");
    EXPECT_EQ((Reply{250, "", {}}.status()), "2.0.0");
    EXPECT_EQ((Reply{354, "", {"go ahead"}}.status()), "");
    EXPECT_EQ((Reply{0, "4.4.3", {"no address"}}.status()), "4.4.3");
    EXPECT_EQ((Reply{0, "", {"no code"}}.status()), "");
}

TEST(Reply, EmptyAuthChallengeKeepsTheSpace) {
    EXPECT_EQ(reply::auth_challenge("").wire(), "334 \r\n");  // RFC 4954 section 4
}

TEST(Reply, NoLinesGivesOneCodeLine) {
    Reply r{250, "2.0.0", {}};
    EXPECT_EQ(r.wire(), "250 2.0.0\r\n");
}

TEST(Reply, LineBreaksInTextCannotSplitTheReply) {
    Reply r{250, "", {"a\r\n250 injected"}};
    EXPECT_EQ(r.wire(), "250 a  250 injected\r\n");
}

TEST(Reply, GreetingNamesTheHost) {
    EXPECT_EQ(reply::greeting("mx.example").wire(), "220 mx.example ESMTP smarthost\r\n");
}

TEST(Reply, PositiveIsBelow400) {
    EXPECT_TRUE(reply::start_data().positive());
    EXPECT_FALSE(reply::auth_temporary_failure().positive());
    EXPECT_FALSE(reply::auth_required().positive());
}

TEST(Reply, CatalogueCodes) {
    EXPECT_EQ(reply::auth_required().wire(), "530 5.7.0 Authentication required\r\n");
    EXPECT_EQ(reply::encryption_required().wire(),
              "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
    EXPECT_EQ(reply::too_many_recipients().wire(), "452 4.5.3 Too many recipients\r\n");
    EXPECT_EQ(reply::message_too_big().wire(),
              "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_EQ(reply::queued("Q1").wire(), "250 2.0.0 Ok: queued as Q1\r\n");
    EXPECT_EQ(reply::not_queued().wire(),
              "451 4.3.0 Temporary failure: message not queued, try again later\r\n");
    EXPECT_EQ(reply::start_data().wire(), "354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_EQ(reply::timeout("h").wire(), "421 4.4.2 h Timeout, closing connection\r\n");
    EXPECT_EQ(reply::shutting_down("h").wire(), "421 4.3.2 h Service shutting down\r\n");
    EXPECT_EQ(reply::too_many_errors("h").wire(),
              "421 4.7.0 h Too many errors, closing connection\r\n");
}

}  // namespace
}  // namespace smarthost::smtp
