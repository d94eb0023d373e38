// relay/delivery/server_reply: replies split off the server's byte stream with their
// enhanced codes, and the extensions of an EHLO reply.
#include "relay/delivery/server_reply.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/relay/delivery/parsed_reply.hpp"

namespace smarthost::delivery {
namespace {

using test::reply;

// ---- replies ----------------------------------------------------------------------------

TEST(ReplyReader, ParsesSingleLineReplyWithEnhancedCode) {
    auto r = reply("550 5.1.1 No such user here\r\n");
    EXPECT_EQ(r.code, 550);
    EXPECT_EQ(r.enhanced, "5.1.1");
    ASSERT_EQ(r.lines.size(), 1u);
    EXPECT_EQ(r.lines[0], "No such user here");
}

TEST(ReplyReader, ParsesMultiLineReplyUpToTheLastLine) {
    std::string inbox = "250-mx.example.com\r\n250-PIPELINING\r\n250 SIZE 1000\r\n354 go\r\n";
    ReplyReader reader;
    auto first = reader.next(inbox);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->code, 250);
    EXPECT_EQ(first->lines,
              (std::vector<std::string>{"mx.example.com", "PIPELINING", "SIZE 1000"}));
    EXPECT_EQ(inbox, "354 go\r\n");
    auto second = reader.next(inbox);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->code, 354);
    EXPECT_TRUE(inbox.empty());
}

TEST(ReplyReader, WaitsForTheRestOfAnIncompleteReply) {
    std::string inbox = "250-first\r\n250 sec";
    ReplyReader reader;
    EXPECT_FALSE(reader.next(inbox));
    EXPECT_FALSE(reader.malformed());
    inbox += "ond\r\n";
    auto r = reader.next(inbox);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->lines.back(), "second");
}

TEST(ReplyReader, AcceptsCodeWithoutTextAndBareLf) {
    auto r = reply("250\n");
    EXPECT_EQ(r.code, 250);
    EXPECT_TRUE(r.enhanced.empty());
}

TEST(ReplyReader, IgnoresEnhancedCodeOfAnotherClass) {
    auto r = reply("450 5.1.1 odd\r\n");
    EXPECT_TRUE(r.enhanced.empty());
    EXPECT_EQ(r.lines[0], "5.1.1 odd");
}

TEST(ReplyReader, EnhancedCodeIsTakenOffEveryLine) {
    auto r = reply("550-5.7.1 first\r\n550 5.7.1 second\r\n");
    EXPECT_EQ(r.enhanced, "5.7.1");
    EXPECT_EQ(r.lines, (std::vector<std::string>{"first", "second"}));
    EXPECT_EQ(r.summary(), "550 5.7.1 first; second");
}

// Found by fuzz_client_replies: "550-5.7.1 first / 275 5.7.1 second" was a 275 reply with
// enhanced code 5.7.1. A server's mixed codes must not give a reply a status of another class.
TEST(ReplyReader, EnhancedCodeComesOnlyFromLinesWithTheRepliesCode) {
    auto mixed = reply("550-5.7.1 first\r\n275 5.7.1 second\r\n");
    EXPECT_EQ(mixed.code, 275);
    EXPECT_TRUE(mixed.enhanced.empty());
    EXPECT_EQ(mixed.lines, (std::vector<std::string>{"5.7.1 first", "5.7.1 second"}));
    auto last = reply("250-2.0.0 fine\r\n550 5.1.1 no such user\r\n");
    EXPECT_EQ(last.code, 550);
    EXPECT_EQ(last.enhanced, "5.1.1");
    EXPECT_EQ(last.lines, (std::vector<std::string>{"2.0.0 fine", "no such user"}));
}

TEST(ReplyReader, GarbageIsMalformed) {
    std::string inbox = "HTTP/1.1 400 Bad Request\r\n";
    ReplyReader reader;
    EXPECT_FALSE(reader.next(inbox));
    EXPECT_TRUE(reader.malformed());
}

TEST(ReplyReader, EndlessReplyIsMalformed) {
    ReplyReader reader(1024);
    std::string inbox;
    for (int i = 0; i < 100; ++i)
        inbox += "250-more capabilities\r\n";
    EXPECT_FALSE(reader.next(inbox));
    EXPECT_TRUE(reader.malformed());
}

// ---- EHLO -------------------------------------------------------------------------------

TEST(ParseEhlo, ReadsEveryExtensionWeUse) {
    auto caps = parse_ehlo(
        reply("250-mx.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
              "250-SMTPUTF8\r\n250-STARTTLS\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
              "250 AUTH PLAIN login\r\n"));
    EXPECT_TRUE(caps.esmtp);
    EXPECT_TRUE(caps.pipelining);
    EXPECT_TRUE(caps.size_announced);
    EXPECT_EQ(caps.max_size, 10240000u);
    EXPECT_TRUE(caps.eight_bit_mime);
    EXPECT_TRUE(caps.smtputf8);
    EXPECT_TRUE(caps.starttls);
    EXPECT_TRUE(caps.dsn);
    EXPECT_TRUE(caps.enhanced_status_codes);
    EXPECT_TRUE(caps.offers_auth("PLAIN"));
    EXPECT_TRUE(caps.offers_auth("login"));
    EXPECT_FALSE(caps.offers_auth("CRAM-MD5"));
}

TEST(ParseEhlo, NothingOfferedOnAMinimalServer) {
    auto caps = parse_ehlo(reply("250 mx.example.com\r\n"));
    EXPECT_FALSE(caps.pipelining);
    EXPECT_FALSE(caps.starttls);
    EXPECT_FALSE(caps.size_announced);
    EXPECT_TRUE(caps.auth_mechanisms.empty());
}

TEST(ParseEhlo, SizeWithoutLimitAndOldAuthSpelling) {
    auto caps = parse_ehlo(reply("250-mx\r\n250-SIZE\r\n250 AUTH=LOGIN PLAIN\r\n"));
    EXPECT_TRUE(caps.size_announced);
    EXPECT_EQ(caps.max_size, 0u);
    EXPECT_TRUE(caps.offers_auth("LOGIN"));
    EXPECT_TRUE(caps.offers_auth("PLAIN"));
}

}  // namespace
}  // namespace smarthost::delivery
