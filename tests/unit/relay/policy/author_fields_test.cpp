#include "relay/policy/author_fields.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

using Addresses = std::vector<std::string>;

// "From a@x.example" for each author, in order.
std::vector<std::string> authors_of(const AuthorFields& author) {
    std::vector<std::string> out;
    for (const auto& [field, address] : author.authors)
        out.push_back(std::string(field) + " " + address);
    return out;
}

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
    EXPECT_EQ(authors_of(author), Addresses{"From alice@shop.example"});
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
    EXPECT_EQ(authors_of(author),
              (Addresses{"From a@shop.example", "From b@other.example", "Sender a@shop.example"}));
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
    EXPECT_EQ(authors_of(author), Addresses{"From alice@shop.example"});
}

TEST(AuthorFields, UnparsableFromIsAProblem) {
    EXPECT_EQ(author_fields("From: Alice\r\n\r\n").problem,
              "the From: header field is not a valid mailbox list");
}

TEST(AuthorFields, SenderAndResentFieldsAreAuthorsToo) {
    auto author = author_fields(
        "Resent-From: Desk <desk@shop.example>, ops@brand.example\r\n"
        "Resent-Sender: desk@shop.example\r\nFrom: a@shop.example\r\n"
        "Sender: b@shop.example\r\nresent-from: c@shop.example\r\n\r\nFrom: body@x\r\n");
    EXPECT_EQ(author.problem, "");
    EXPECT_EQ(authors_of(author),
              (Addresses{"From a@shop.example", "Sender b@shop.example",
                         "Resent-From desk@shop.example", "Resent-From ops@brand.example",
                         "Resent-From c@shop.example", "Resent-Sender desk@shop.example"}));
}

TEST(AuthorFields, ResentFieldsMustHoldMailboxes) {
    EXPECT_EQ(author_fields("From: a@shop.example\r\nResent-From: Desk\r\n\r\n").problem,
              "the Resent-From: header field is not a valid mailbox list");
    EXPECT_EQ(author_fields("From: a@shop.example\r\nResent-From: a@shop.example\r\n"
                            "Resent-Sender: a@shop.example, b@x.example\r\n\r\n")
                  .problem,
              "the Resent-Sender: header field must hold exactly one mailbox");
}

// Issue 11 point 12: the fields were cut at 998 octets before they were parsed, so
// whatever mailbox stood behind the cut was never checked.
TEST(AuthorFields, AnAuthorFieldLongerThan998OctetsIsRefusedNotCut) {
    const std::string padding = "\"" + std::string(990, 'p') + "\" <a@shop.example>";
    for (const char* field : {"From", "Sender", "Resent-From", "Resent-Sender"}) {
        std::string message = std::string("From: a@shop.example\r\n") + field + ": " + padding +
                              ",\r\n ceo@bank.example\r\n\r\n";
        if (std::string_view(field) == "From") message = message.substr(22);
        const auto author = author_fields(message);
        EXPECT_EQ(author.overlong_field, field) << message;
        EXPECT_TRUE(author.authors.empty()) << field;
    }
    // Exactly at the limit is read.
    const std::string address = "a@shop.example";
    const std::string fits =
        "\"" + std::string(998 - address.size() - 5, 'p') + "\" <" + address + ">";
    ASSERT_EQ(fits.size(), 998u);
    const auto author = author_fields("From: " + fits + "\r\n\r\n");
    EXPECT_EQ(author.overlong_field, "");
    EXPECT_EQ(authors_of(author), Addresses{"From a@shop.example"});
}

TEST(AuthorFields, AFoldedLineIsNeverAFieldOfItsOwn) {
    // " From:" continues Subject:; a reader that took it for a field saw another author.
    auto author =
        author_fields("From: a@shop.example\r\nSubject: hi\r\n From: ceo@bank.example\r\n\r\n");
    EXPECT_EQ(author.problem, "");
    EXPECT_EQ(authors_of(author), Addresses{"From a@shop.example"});
}

}  // namespace
}  // namespace smarthost::policy
