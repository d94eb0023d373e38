#include "relay/smtp/sasl.hpp"

#include <gtest/gtest.h>

namespace smarthost::smtp {
namespace {

using namespace std::string_literals;

TEST(Sasl, DecodesBase64) {
    EXPECT_EQ(decode_base64("VXNlcm5hbWU6"), "Username:");
    EXPECT_EQ(decode_base64("YQ=="), "a");
    EXPECT_EQ(decode_base64("YWI="), "ab");
    EXPECT_EQ(decode_base64(""), "");
}

TEST(Sasl, LoneEqualsIsTheEmptyResponse) {
    EXPECT_EQ(decode_base64("="), "");
}

TEST(Sasl, RejectsMalformedBase64) {
    for (const char* bad : {"YQ", "YQ=", "Y===", "YQ==YQ==", "YW I=", "YWJj\r", "YW!j", "=YWJ",
                            "YR==" /* non-zero padding bits */}) {
        EXPECT_FALSE(decode_base64(bad).has_value()) << bad;
    }
}

TEST(Sasl, EncodeRoundTrips) {
    for (const std::string& text :
         {""s, "a"s, "ab"s, "abc"s, "abcd"s, "\0user\0pass"s, "\xff\xfe"s}) {
        EXPECT_EQ(decode_base64(encode_base64(text)), text);
    }
}

TEST(Sasl, PlainSplitsAuthzidAuthcidPassword) {
    auto credentials = decode_plain("admin\0user\0secret"s);
    ASSERT_TRUE(credentials);
    EXPECT_EQ(credentials->authzid, "admin");
    EXPECT_EQ(credentials->authcid, "user");
    EXPECT_EQ(credentials->password, "secret");
}

TEST(Sasl, CredentialDefects) {
    EXPECT_EQ(credential_defect("user@example.com", "any \x01 password"), "");
    EXPECT_EQ(credential_defect("\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6", "pw"), "");  // "ユーザ"
    EXPECT_EQ(credential_defect(std::string("a\0b", 3), "pw"),
              "Username contains a control character");
    EXPECT_EQ(credential_defect("a\x1b[31m", "pw"), "Username contains a control character");
    for (const char* not_utf8 :
         {"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3", "\x80"})
        EXPECT_EQ(credential_defect(not_utf8, "pw"), "Username is not valid UTF-8") << not_utf8;
    EXPECT_EQ(credential_defect("user", std::string("p\0w", 3)), "Password contains NUL");
}

TEST(Sasl, PlainNeedsExactlyTwoNulsAndNonEmptyUserAndPassword) {
    EXPECT_FALSE(decode_plain("user\0secret"s));
    EXPECT_FALSE(decode_plain("\0user\0pass\0"s));
    EXPECT_FALSE(decode_plain("\0\0secret"s));
    EXPECT_FALSE(decode_plain("\0user\0"s));
    EXPECT_FALSE(decode_plain(""));
    EXPECT_TRUE(decode_plain("\0user\0secret"s));
}

}  // namespace
}  // namespace smarthost::smtp
