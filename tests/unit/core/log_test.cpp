// Log lines cannot be forged or broken by what a client sends (issue 11 point 16).

#include "core/log.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace smarthost {
namespace {

TEST(LogText, ControlBytesBackslashesAndBrokenUtf8AreEscaped) {
    EXPECT_EQ(escape_log_text("user=bob"), "user=bob");
    // A username with CRLF would otherwise start a forged line of its own.
    EXPECT_EQ(escape_log_text("bob\r\n2026-12-06T00:00:00.000Z info auth ok user=admin"),
              "bob\\x0d\\x0a2026-12-06T00:00:00.000Z info auth ok user=admin");
    EXPECT_EQ(escape_log_text(std::string("a\0b\tc\x1b[31m\x7f", 11)),
              "a\\x00b\\x09c\\x1b[31m\\x7f");
    EXPECT_EQ(escape_log_text("back\\slash"), "back\\x5cslash");
    // Well-formed UTF-8 stays readable; anything else is shown byte by byte.
    EXPECT_EQ(escape_log_text("caf\xc3\xa9 \xe3\x83\xa6"), "caf\xc3\xa9 \xe3\x83\xa6");
    EXPECT_EQ(escape_log_text("caf\xe9"), "caf\\xe9");
    EXPECT_EQ(escape_log_text("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
    EXPECT_EQ(escape_log_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
    EXPECT_EQ(escape_log_text("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
    EXPECT_EQ(escape_log_text("\xe3\x83"), "\\xe3\\x83");  // cut short
}

TEST(LogLine, TextIsTimeLevelMessage) {
    EXPECT_EQ(format_log_line(LogFormat::text, "2026-12-06T05:00:00.123Z", "info", "hello"),
              "2026-12-06T05:00:00.123Z info hello\n");
}

TEST(LogLine, JsonIsOneObjectPerLineWithTheMessagesFields) {
    const auto line =
        format_log_line(LogFormat::json, "2026-12-06T05:00:00.123Z", "info",
                        escape_log_text("session end listener=submission client=192.0.2.7 "
                                        "user=\"quoted\" note=a\\b listener=again reason=x\r\ny"));
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    const auto value = boost::json::parse(line.substr(0, line.size() - 1));
    const auto& object = value.as_object();
    EXPECT_EQ(object.at("time").as_string(), "2026-12-06T05:00:00.123Z");
    EXPECT_EQ(object.at("level").as_string(), "info");
    EXPECT_EQ(object.at("message").as_string(),
              "session end listener=submission client=192.0.2.7 user=\"quoted\" note=a\\x5cb "
              "listener=again reason=x\\x0d\\x0ay");
    const auto& fields = object.at("fields").as_object();
    EXPECT_EQ(fields.at("listener").as_string(), "submission");  // the first one
    EXPECT_EQ(fields.at("client").as_string(), "192.0.2.7");
    EXPECT_EQ(fields.at("user").as_string(), "\"quoted\"");
    EXPECT_EQ(fields.at("reason").as_string(), "x\\x0d\\x0ay");
    EXPECT_EQ(fields.size(), 5u);
}

TEST(LogLine, JsonWithoutFields) {
    EXPECT_EQ(format_log_line(LogFormat::json, "t", "warning", "plain words"),
              "{\"time\":\"t\",\"level\":\"warning\",\"message\":\"plain words\"}\n");
}

}  // namespace
}  // namespace smarthost
