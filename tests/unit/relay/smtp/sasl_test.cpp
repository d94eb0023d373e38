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
    for (std::string text : {""s, "a"s, "ab"s, "abc"s, "abcd"s, "\0user\0pass"s, "\xff\xfe"s}) {
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
