#include "relay/policy/author_fields.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

using Addresses = std::vector<std::string>;

TEST(MailboxList, BareAddress) {
    EXPECT_EQ(mailbox_list_addresses("alice@shop.example"), Addresses{"alice@shop.example"});
}

TEST(MailboxList, DisplayNamesCommentsAndQuotesAreDropped) {
    EXPECT_EQ(mailbox_list_addresses("Alice <alice@shop.example>"),
              Addresses{"alice@shop.example"});
    EXPECT_EQ(mailbox_list_addresses("\"Doe, John <j@evil.example>\" <john@shop.example>"),
              Addresses{"john@shop.example"});
    EXPECT_EQ(mailbox_list_addresses("alice@shop.example (Alice, (at) work)"),
              Addresses{"alice@shop.example"});
    EXPECT_EQ(mailbox_list_addresses("=?UTF-8?Q?Caf=C3=A9?= <cafe@shop.example>"),
              Addresses{"cafe@shop.example"});
}

TEST(MailboxList, QuotedLocalPartKeepsItsAtSign) {
    EXPECT_EQ(mailbox_list_addresses("\"a@evil.example\"@shop.example"),
              Addresses{"\"a@evil.example\"@shop.example"});
}

TEST(MailboxList, SeveralMailboxes) {
    EXPECT_EQ(mailbox_list_addresses("a@one.example, B <b@two.example>,, c@three.example"),
              (Addresses{"a@one.example", "b@two.example", "c@three.example"}));
}

TEST(MailboxList, ObsoleteRouteIsDropped) {
    EXPECT_EQ(mailbox_list_addresses("<@relay.example,@other.example:a@shop.example>"),
              Addresses{"a@shop.example"});
}

TEST(MailboxList, NotAMailboxList) {
    EXPECT_FALSE(mailbox_list_addresses(""));
    EXPECT_FALSE(mailbox_list_addresses("Alice"));
    EXPECT_FALSE(mailbox_list_addresses("Alice <alice>"));
    EXPECT_FALSE(mailbox_list_addresses("undisclosed-recipients:;"));
    EXPECT_FALSE(mailbox_list_addresses("Team: a@shop.example;"));
    EXPECT_FALSE(mailbox_list_addresses("<a@shop.example"));
    EXPECT_FALSE(mailbox_list_addresses("a@shop.example>"));
    EXPECT_FALSE(mailbox_list_addresses("\"unterminated <a@shop.example>"));
    EXPECT_FALSE(mailbox_list_addresses("(open comment a@shop.example"));
    EXPECT_FALSE(mailbox_list_addresses("<a@shop.example> trailing@evil.example"));
    EXPECT_FALSE(mailbox_list_addresses("<a@shop.example><b@evil.example>"));
}

TEST(AuthorFields, OneFromAddress) {
    auto author =
        author_fields("From: Alice <alice@shop.example>\r\nTo: b@x.example\r\n\r\nhi\r\n");
    EXPECT_EQ(author.problem, "");
    EXPECT_EQ(author.from_addresses, Addresses{"alice@shop.example"});
}

TEST(AuthorFields, MissingFromIsAProblem) {
    EXPECT_EQ(author_fields("Subject: hi\r\n\r\nFrom: body@shop.example\r\n").problem,
              "no From: header field");
}

TEST(AuthorFields, TwoFromFieldsAreAProblem) {
    EXPECT_EQ(author_fields("From: a@shop.example\r\nFrom: b@shop.example\r\n\r\n").problem,
              "more than one From: header field");
}

TEST(AuthorFields, SeveralFromAddressesNeedASender) {
    EXPECT_EQ(author_fields("From: a@shop.example, b@shop.example\r\n\r\n").problem,
              "several From: addresses without a Sender: header field");
    auto author =
        author_fields("From: a@shop.example, b@other.example\r\nSender: a@shop.example\r\n\r\n");
    EXPECT_EQ(author.problem, "");
    EXPECT_EQ(author.from_addresses, (Addresses{"a@shop.example", "b@other.example"}));
}

TEST(AuthorFields, SenderMustBeOneMailboxAndOnce) {
    EXPECT_EQ(author_fields("From: a@shop.example\r\nSender: a@shop.example, b@shop.example"
                            "\r\n\r\n")
                  .problem,
              "the Sender: header field must hold exactly one mailbox");
    EXPECT_EQ(author_fields(
                  "From: a@shop.example\r\nSender: a@shop.example\r\nSender: b@x.example\r\n\r\n")
                  .problem,
              "more than one Sender: header field");
}

TEST(AuthorFields, FoldedFromIsUnfolded) {
    auto author = author_fields("From: Alice\r\n <alice@shop.example>\r\n\r\n");
    EXPECT_EQ(author.from_addresses, Addresses{"alice@shop.example"});
}

TEST(AuthorFields, UnparsableFromIsAProblem) {
    EXPECT_EQ(author_fields("From: Alice\r\n\r\n").problem,
              "the From: header field is not a valid mailbox list");
}

}  // namespace
}  // namespace smarthost::policy
