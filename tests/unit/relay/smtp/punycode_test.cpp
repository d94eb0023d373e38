#include "relay/smtp/punycode.hpp"

#include <gtest/gtest.h>

namespace smarthost::smtp {
namespace {

// RFC 3492 section 7.1, samples (A), (B), (L) and (S), given as UTF-8.
TEST(Punycode, EncodesTheSamplesOfRfc3492) {
    // (A) Arabic (Egyptian).
    EXPECT_EQ(punycode_encode("\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648"
                              "\u0634\u0639\u0631\u0628\u064A\u061F"),
              "egbpdaj6bu4bxfgehfvwxn");
    // (B) Chinese (simplified).
    EXPECT_EQ(punycode_encode("\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587"),
              "ihqwcrb4cv8a8dqg056pqjye");
    // (L) 3<nen>B<gumi><kinpachi><sensei>: basic code points keep their case.
    EXPECT_EQ(punycode_encode("3\u5E74B\u7D44\u91D1\u516B\u5148\u751F"),
              "3B-ww4c5e180e575a65lsy2b");
    // (S) -> $1.00 <-: only basic code points.
    EXPECT_EQ(punycode_encode("-> $1.00 <-"), "-> $1.00 <--");
}

TEST(Punycode, EncodesDomainLabels) {
    EXPECT_EQ(punycode_encode("bücher"), "bcher-kva");
    EXPECT_EQ(punycode_encode("café"), "caf-dma");
    EXPECT_EQ(punycode_encode("münchen"), "mnchen-3ya");
    EXPECT_EQ(punycode_encode(""), "");
}

TEST(Punycode, MalformedUtf8IsRefused) {
    EXPECT_EQ(punycode_encode("b\xc3"), std::nullopt);
    EXPECT_EQ(punycode_encode("\xc0\xaf"), std::nullopt);
}

}  // namespace
}  // namespace smarthost::smtp
