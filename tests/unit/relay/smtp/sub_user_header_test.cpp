#include "relay/smtp/sub_user_header.hpp"

#include <gtest/gtest.h>

namespace smarthost::smtp {
namespace {

using Kind = SubUserField::Kind;

TEST(SubUserHeader, AFieldNameOfPrintableAsciiIsAccepted) {
    EXPECT_FALSE(sub_user_header_problem("X-AuthUser"));
    EXPECT_FALSE(sub_user_header_problem("X-PPP-Vhost"));
    EXPECT_FALSE(sub_user_header_problem(std::string(64, 'x')));
}

TEST(SubUserHeader, NamesThatAreNotFieldNamesAreRefused) {
    EXPECT_TRUE(sub_user_header_problem(""));
    EXPECT_TRUE(sub_user_header_problem(std::string(65, 'x')));
    EXPECT_TRUE(sub_user_header_problem("X-Auth User"));
    EXPECT_TRUE(sub_user_header_problem("X-AuthUser:"));
    EXPECT_TRUE(sub_user_header_problem("X-Auth\r\nBcc"));
    EXPECT_TRUE(sub_user_header_problem("X-Authüser"));
}

TEST(SubUserHeader, StructuralFieldsAreRefusedWhateverTheirCase) {
    for (const char* name :
         {"From", "to", "RECEIVED", "DKIM-Signature", "Message-ID", "Content-Type",
          "content-transfer-encoding", "Resent-From", "ARC-Seal", "List-Unsubscribe",
          "X-Smarthost-DNSBL", "Return-Path", "Sender", "Reply-To", "Subject", "MIME-Version"})
        EXPECT_TRUE(sub_user_header_problem(name)) << name;
}

TEST(SubUserHeader, TheValueIsTrimmedAndLowerCased) {
    EXPECT_EQ(normalize_sub_user("  Shop.Example \t"), "shop.example");
    EXPECT_EQ(normalize_sub_user(" Alice@Example.ORG"), "alice@example.org");
}

TEST(SubUserHeader, AFoldedValueIsUnfoldedBeforeItIsJudged) {
    // Folding before and after the value is white space around it.
    EXPECT_EQ(normalize_sub_user("\r\n\tshop"), "shop");
    // Folding inside it leaves a space: not an identifier.
    EXPECT_FALSE(normalize_sub_user(" sh\r\n op"));
}

TEST(SubUserHeader, ValuesThatAreNotPlainIdentifiersAreRefused) {
    EXPECT_FALSE(normalize_sub_user(""));
    EXPECT_FALSE(normalize_sub_user("   "));
    EXPECT_FALSE(normalize_sub_user(" two words"));
    EXPECT_FALSE(normalize_sub_user(" =?utf-8?q?shop?="));
    EXPECT_FALSE(normalize_sub_user(" caf\xc3\xa9"));
    EXPECT_FALSE(normalize_sub_user(std::string(" a\x01z")));
    EXPECT_FALSE(normalize_sub_user(" " + std::string(129, 'a')));
    EXPECT_EQ(normalize_sub_user(" " + std::string(128, 'A')), std::string(128, 'a'));
    EXPECT_FALSE(normalize_sub_user(" " + std::string(100000, 'a')));
}

TEST(SubUserHeader, OneFieldNamesTheSubUserWhateverTheCaseOfItsName) {
    const auto field = read_sub_user(
        "From: a@shop.example\r\nx-authuser: Shop1\r\nSubject: hi\r\n\r\nbody\r\n", "X-AuthUser");
    EXPECT_EQ(field.kind, Kind::found);
    EXPECT_EQ(field.sub_user, "shop1");
}

TEST(SubUserHeader, AFoldedFieldIsReadWhole) {
    const auto field =
        read_sub_user("X-AuthUser:\r\n  shop2\r\nSubject: hi\r\n\r\nbody\r\n", "X-AuthUser");
    EXPECT_EQ(field.kind, Kind::found);
    EXPECT_EQ(field.sub_user, "shop2");
}

TEST(SubUserHeader, WithoutTheFieldThereIsNoSubUser) {
    EXPECT_EQ(read_sub_user("Subject: hi\r\n\r\nbody\r\n", "X-AuthUser").kind, Kind::absent);
}

TEST(SubUserHeader, OnlyTheTopLevelHeaderSectionCounts) {
    const std::string message =
        "Subject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        "X-AuthUser: victim\r\n\r\ntext\r\n--b--\r\n";
    EXPECT_EQ(read_sub_user(message, "X-AuthUser").kind, Kind::absent);
    EXPECT_EQ(read_sub_user("Subject: hi\r\n\r\nX-AuthUser: victim\r\n", "X-AuthUser").kind,
              Kind::absent);
}

TEST(SubUserHeader, TwoFieldsAreRefusedEvenWithTheSameValue) {
    EXPECT_EQ(read_sub_user("X-AuthUser: a\r\nX-AuthUser: a\r\n\r\n", "X-AuthUser").kind,
              Kind::several);
    EXPECT_EQ(read_sub_user("X-AuthUser: a\r\nx-AUTHUSER : b\r\n\r\n", "X-AuthUser").kind,
              Kind::several);
}

TEST(SubUserHeader, ABadValueIsInvalid) {
    EXPECT_EQ(read_sub_user("X-AuthUser: =?utf-8?b?c2hvcA==?=\r\n\r\n", "X-AuthUser").kind,
              Kind::invalid);
    EXPECT_EQ(read_sub_user("X-AuthUser:\r\n\r\n", "X-AuthUser").kind, Kind::invalid);
}

TEST(SubUserHeader, RemovingTakesTheFieldAndItsContinuationsAndNothingElse) {
    const std::string prefix = "Received: from x\r\n";
    std::string text = prefix +
                       "From: a@shop.example\r\nX-AuthUser: shop\r\n\tmore\r\nSubject: hi\r\n\r\n"
                       "X-AuthUser: in the body\r\n";
    const auto removed = remove_header_fields(text, prefix.size(), "x-authuser");
    EXPECT_EQ(text,
              prefix + "From: a@shop.example\r\nSubject: hi\r\n\r\nX-AuthUser: in the body\r\n");
    EXPECT_EQ(removed, std::string("X-AuthUser: shop\r\n\tmore\r\n").size());
}

TEST(SubUserHeader, RemovingWithoutTheFieldChangesNothing) {
    std::string text = "From: a@shop.example\r\n\r\nbody\r\n";
    EXPECT_EQ(remove_header_fields(text, 0, "X-AuthUser"), 0u);
    EXPECT_EQ(text, "From: a@shop.example\r\n\r\nbody\r\n");
    EXPECT_EQ(remove_header_fields(text, text.size(), "X-AuthUser"), 0u);
}

}  // namespace
}  // namespace smarthost::smtp
