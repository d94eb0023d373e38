#include "relay/dns/rdata.hpp"

#include <gtest/gtest.h>

#include <string>

namespace smarthost::dns::rdata {
namespace {

using namespace std::string_literals;

TEST(Rdata, AIsFourBytes) {
    EXPECT_EQ(parse_a("\x7f\x00\x00\x01"s), "127.0.0.1");
    EXPECT_FALSE(parse_a("\x7f\x00\x01"s));
    EXPECT_FALSE(parse_a("\x7f\x00\x00\x01\x01"s));
}

TEST(Rdata, AaaaIsSixteenBytes) {
    EXPECT_EQ(parse_aaaa("\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x01"s), "2001:db8::1");
    EXPECT_FALSE(parse_aaaa(std::string(15, '\0')));
}

TEST(Rdata, MxHasPreferenceAndExchange) {
    auto mx = parse_mx(
        "\x00\x0a\x03mx1\x07"
        "example\x03"
        "com\x00"s);
    ASSERT_TRUE(mx);
    EXPECT_EQ(mx->preference, 10);
    EXPECT_EQ(mx->exchange, "mx1.example.com");
}

TEST(Rdata, MxPreferenceIsBigEndianSixteenBits) {
    auto mx = parse_mx("\xff\xfe\x01m\x00"s);
    ASSERT_TRUE(mx);
    EXPECT_EQ(mx->preference, 65534);
}

TEST(Rdata, NullMxExchangeIsTheRoot) {
    auto mx = parse_mx("\x00\x00\x00"s);
    ASSERT_TRUE(mx);
    EXPECT_EQ(mx->preference, 0);
    EXPECT_EQ(mx->exchange, ".");
}

TEST(Rdata, MalformedMxIsRefused) {
    EXPECT_FALSE(parse_mx("\x00\x0a"s));                    // no name
    EXPECT_FALSE(parse_mx("\x00\x0a\x05mx"s));              // label past the end
    EXPECT_FALSE(parse_mx("\x00\x0a\x02mx"s));              // no terminating root label
    EXPECT_FALSE(parse_mx("\x00\x0a\xc0\x0c"s));            // compression pointer
    EXPECT_FALSE(parse_mx("\x00\x0a\x02mx\x00trailing"s));  // bytes after the name
}

TEST(Rdata, UnusualLabelBytesAreEscaped) {
    EXPECT_EQ(name_to_text("\x03"
                           "a.b\x01"
                           "c\x00"s),
              "a\\046b.c");
    EXPECT_EQ(name_to_text("\x02"
                           "a\x00\x00"s),
              "a\\000");
}

TEST(Rdata, TxtJoinsItsCharacterStrings) {
    EXPECT_EQ(parse_txt("\x07v=spf1 \x04-all"s), "v=spf1 -all");
    EXPECT_EQ(parse_txt("\x00"s), "");
    EXPECT_FALSE(
        parse_txt("\x05"
                  "abc"s));
    EXPECT_FALSE(parse_txt(""));
}

TEST(Rdata, TlsaKeepsItsFieldsAndAssociationBytes) {
    const auto record = parse_tlsa("\x03\x01\x01\xab\x00\xcd"s);
    ASSERT_TRUE(record);
    EXPECT_EQ(record->usage, 3);
    EXPECT_EQ(record->selector, 1);
    EXPECT_EQ(record->matching_type, 1);
    EXPECT_EQ(record->data, "\xab\x00\xcd"s);
    // Unknown values and odd sizes are the DANE decision's to judge, not the parser's.
    const auto odd = parse_tlsa("\xff\x07\x09"s);
    ASSERT_TRUE(odd);
    EXPECT_EQ(odd->usage, 255);
    EXPECT_TRUE(odd->data.empty());
    EXPECT_FALSE(parse_tlsa("\x03\x01"s));
    EXPECT_FALSE(parse_tlsa(""));
}

}  // namespace
}  // namespace smarthost::dns::rdata
