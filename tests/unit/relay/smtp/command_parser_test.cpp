#include "relay/smtp/command_parser.hpp"

#include <gtest/gtest.h>

namespace smarthost::smtp {
namespace {

TEST(CommandParser, VerbIsCaseInsensitive) {
    EXPECT_EQ(parse_command("ehlo x").verb, Verb::ehlo);
    EXPECT_EQ(parse_command("MaIl FROM:<>").verb, Verb::mail);
    EXPECT_EQ(parse_command("starttls").verb, Verb::starttls);
}

TEST(CommandParser, ArgumentFollowsTheVerbWithoutSurroundingBlanks) {
    auto command = parse_command("EHLO   client.example  \t");
    EXPECT_EQ(command.verb, Verb::ehlo);
    EXPECT_EQ(command.argument, "client.example");
    EXPECT_EQ(parse_command("DATA ").argument, "");
}

TEST(CommandParser, ClassifiesUnsupportedAndHttpVerbs) {
    EXPECT_EQ(parse_command("BDAT 100 LAST").verb, Verb::not_implemented);
    EXPECT_EQ(parse_command("ETRN example.com").verb, Verb::not_implemented);
    EXPECT_EQ(parse_command("TURN").verb, Verb::not_implemented);
    EXPECT_EQ(parse_command("POST / HTTP/1.1").verb, Verb::http);
    EXPECT_EQ(parse_command("GET / HTTP/1.0").verb, Verb::http);
    EXPECT_EQ(parse_command("MAILX").verb, Verb::unknown);
    EXPECT_EQ(parse_command("").verb, Verb::unknown);
    EXPECT_EQ(parse_command(" NOOP").verb, Verb::unknown);
}

TEST(CommandParser, PathArgumentWithParameters) {
    auto parsed =
        parse_path_argument("FROM:<a@b.example> SIZE=100 BODY=8BITMIME smtputf8", "FROM:");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->path, "a@b.example");
    ASSERT_EQ(parsed->parameters.size(), 3u);
    EXPECT_EQ(parsed->parameters[0].keyword, "SIZE");
    EXPECT_EQ(parsed->parameters[0].value, "100");
    EXPECT_EQ(parsed->parameters[2].keyword, "SMTPUTF8");
    EXPECT_FALSE(parsed->parameters[2].value.has_value());
}

TEST(CommandParser, PathArgumentToleratesSpaceAfterColonAndLowerCase) {
    auto parsed = parse_path_argument("from: <a@b.example>", "FROM:");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->path, "a@b.example");
}

TEST(CommandParser, QuotedGreaterThanDoesNotEndThePath) {
    auto parsed = parse_path_argument(R"(TO:<"a>b"@c.example>)", "TO:");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->path, R"("a>b"@c.example)");
}

TEST(CommandParser, RejectsMalformedPathArguments) {
    for (const char* bad :
         {"FROM:a@b.example", "FROM<a@b.example>", "FROM:<a@b.example", "FROM:<a@b.example>SIZE=1",
          "FROM:<a@b.example> =1", "FROM:<a@b.example> SIZE=", "FROM:<a@b.example> -X=1",
          "FROM:<a@b.example> X=a=b", "TO:<a@b.example>", ""}) {
        EXPECT_FALSE(parse_path_argument(bad, "FROM:")) << bad;
    }
}

TEST(CommandParser, DecodesXtext) {
    EXPECT_EQ(decode_xtext("abc+2Bdef+3D"), "abc+def=");
    EXPECT_FALSE(decode_xtext("a+2"));
    EXPECT_FALSE(decode_xtext("a+2b"));  // hexchar is upper case
    EXPECT_FALSE(decode_xtext("a=b"));
    EXPECT_FALSE(decode_xtext("a b"));
}

}  // namespace
}  // namespace smarthost::smtp
