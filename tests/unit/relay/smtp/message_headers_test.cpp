#include "relay/smtp/message_headers.hpp"

#include <gtest/gtest.h>

namespace smarthost::smtp {
namespace {

TEST(MessageHeaders, FindsTheFieldWhateverItsCase) {
    const std::string message = "Subject: hi\r\nmessage-id:  <a@b.example> \r\n\r\nbody\r\n";
    EXPECT_EQ(header_message_id(message), "<a@b.example>");
}

TEST(MessageHeaders, UnfoldsContinuationLines) {
    const std::string message = "Message-ID:\r\n <long@b.example>\r\nTo: x\r\n\r\n";
    EXPECT_EQ(header_message_id(message), "<long@b.example>");
}

TEST(MessageHeaders, StopsAtTheEndOfTheHeaderSection) {
    const std::string message = "Subject: hi\r\n\r\nMessage-ID: <in-body@b.example>\r\n";
    EXPECT_EQ(header_message_id(message), "");
}

TEST(MessageHeaders, FirstOfSeveralFieldsWins) {
    const std::string message = "Message-ID: <one@x>\r\nMessage-ID: <two@x>\r\n\r\n";
    EXPECT_EQ(header_message_id(message), "<one@x>");
}

TEST(MessageHeaders, ValuesAreCappedAt998Octets) {
    const std::string message = "Message-ID: <" + std::string(5000, 'a') + ">\r\n\r\n";
    EXPECT_EQ(header_message_id(message).size(), 998u);
}

TEST(MessageHeaders, AMessageWithoutHeadersHasNone) {
    EXPECT_EQ(header_value("", "Subject"), "");
    EXPECT_EQ(header_value("no colon here", "Subject"), "");
}

TEST(MessageHeaders, ListsEveryOccurrenceOfAField) {
    const std::string message =
        "From: a@one.example\r\nTo: x\r\nfrom:\r\n b@two.example\r\n\r\nFrom: body@x\r\n";
    EXPECT_EQ(header_values(message, "From"),
              (std::vector<std::string>{"a@one.example", "b@two.example"}));
    EXPECT_TRUE(header_values(message, "Sender").empty());
}

TEST(MessageHeaders, CountsFieldsOfTheHeaderSectionOnly) {
    const std::string message =
        "Received: from a by b;\r\n\tMon, 30 Nov 2026 10:00:00 +0000\r\nRECEIVED: from c\r\n"
        "Subject: hi\r\n Received: folded into the subject\r\nX-Received: no\r\n\r\n"
        "Received: in the body\r\n";
    EXPECT_EQ(count_header_fields(message, "Received"), 2u);
    EXPECT_EQ(count_header_fields(message, "Delivered-To"), 0u);
}

TEST(MessageHeaders, ReaderGivesEachFieldWithItsFolding) {
    HeaderFieldReader reader(
        " orphan continuation\r\nno colon\r\n more of it: x\r\nFrom : a@b.example\r\n"
        "To: c@d.example,\r\n\te@f.example\r\n\r\nBody: no\r\n");
    auto field = reader.next();
    ASSERT_TRUE(field);
    EXPECT_EQ(field->name, "From");
    EXPECT_EQ(field->raw_value, " a@b.example");
    field = reader.next();
    ASSERT_TRUE(field);
    EXPECT_EQ(field->name, "To");
    EXPECT_EQ(field->raw_value, " c@d.example,\r\n\te@f.example");
    EXPECT_FALSE(reader.next());
    EXPECT_FALSE(reader.next());
}

TEST(MessageHeaders, UnfoldedValueIsRefusedPastItsLimitNotCut) {
    EXPECT_EQ(unfolded_value(" a,\r\n  b \r\n\t\r\n c", 100), "a, b c");
    EXPECT_EQ(unfolded_value(" a,\r\n  b \r\n\t\r\n c", 6), "a, b c");
    EXPECT_EQ(unfolded_value(" a,\r\n  b \r\n\t\r\n c", 5), std::nullopt);
    EXPECT_EQ(unfolded_value("", 0), "");
}

}  // namespace
}  // namespace smarthost::smtp
