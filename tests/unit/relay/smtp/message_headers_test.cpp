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

}  // namespace
}  // namespace smarthost::smtp
