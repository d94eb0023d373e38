#include "relay/dkim/canonicalization.hpp"

#include <gtest/gtest.h>

namespace smarthost::dkim {
namespace {

// RFC 6376 section 3.4.5's example: the header section and body before canonicalization.
constexpr std::string_view k_rfc_headers = "A: X\r\nB : Y\t\r\n\tZ  \r\n";
constexpr std::string_view k_rfc_body = " C \r\nD \t E\r\n\r\n\r\n";

TEST(DkimCanonicalizationTest, RelaxedHeadersFollowTheRfcExample) {
    EXPECT_EQ(canonical_header("A", " X", "A: X", Canonicalization::relaxed), "a:X\r\n");
    EXPECT_EQ(canonical_header("B", " Y\t\r\n\tZ  ", "B : Y\t\r\n\tZ  ", Canonicalization::relaxed),
              "b:Y Z\r\n");
}

TEST(DkimCanonicalizationTest, SimpleHeadersAreUnchanged) {
    EXPECT_EQ(canonical_header("B", " Y\t\r\n\tZ  ", "B : Y\t\r\n\tZ  ", Canonicalization::simple),
              "B : Y\t\r\n\tZ  \r\n");
    EXPECT_EQ(k_rfc_headers.substr(6), "B : Y\t\r\n\tZ  \r\n");
}

TEST(DkimCanonicalizationTest, BodiesFollowTheRfcExample) {
    EXPECT_EQ(canonical_body(k_rfc_body, Canonicalization::relaxed), " C\r\nD E\r\n");
    EXPECT_EQ(canonical_body(k_rfc_body, Canonicalization::simple), " C \r\nD \t E\r\n");
}

TEST(DkimCanonicalizationTest, AnEmptyBodyIsCrlfInSimpleAndNothingInRelaxed) {
    EXPECT_EQ(canonical_body("", Canonicalization::simple), "\r\n");
    EXPECT_EQ(canonical_body("\r\n\r\n", Canonicalization::simple), "\r\n");
    EXPECT_EQ(canonical_body("", Canonicalization::relaxed), "");
    EXPECT_EQ(canonical_body(" \t\r\n\r\n", Canonicalization::relaxed), "");
}

TEST(DkimCanonicalizationTest, ABodyWithoutAFinalCrlfGetsOne) {
    EXPECT_EQ(canonical_body("last line", Canonicalization::simple), "last line\r\n");
    EXPECT_EQ(canonical_body("last  line ", Canonicalization::relaxed), "last line\r\n");
}

TEST(DkimCanonicalizationTest, EmptyLinesInsideTheBodyStay) {
    EXPECT_EQ(canonical_body("a\r\n\r\n \r\nb\r\n\r\n", Canonicalization::relaxed),
              "a\r\n\r\n\r\nb\r\n");
    EXPECT_EQ(canonical_body("a\r\n\r\n \r\nb\r\n\r\n", Canonicalization::simple),
              "a\r\n\r\n \r\nb\r\n");
}

TEST(DkimCanonicalizationTest, ALargeBodyReachesTheSinkInPiecesThatMakeTheWhole) {
    std::string body;
    for (int i = 0; i < 5000; ++i)
        body += "line  " + std::to_string(i) + " \t with   spaces  \r\n";
    std::size_t pieces = 0;
    std::string joined;
    canonicalize_body(body, Canonicalization::relaxed, [&](std::string_view piece) {
        ++pieces;
        joined += piece;
    });
    EXPECT_GT(pieces, 1u);
    EXPECT_EQ(joined, canonical_body(body, Canonicalization::relaxed));
    EXPECT_EQ(joined.substr(0, 24), "line 0 with spaces\r\nline");
}

TEST(DkimCanonicalizationTest, TheBodyStartsAfterTheFirstEmptyLine) {
    EXPECT_EQ(body_offset("A: 1\r\nB: 2\r\n\r\nbody\r\n"), 14u);
    EXPECT_EQ(body_offset("\r\nbody"), 2u);
    EXPECT_EQ(body_offset("A: 1\r\n"), 6u);
}

TEST(DkimCanonicalizationTest, NamesAreRead) {
    EXPECT_EQ(parse_canonicalization("Relaxed"), Canonicalization::relaxed);
    EXPECT_EQ(parse_canonicalization("simple"), Canonicalization::simple);
    EXPECT_FALSE(parse_canonicalization("nowsp"));
}

}  // namespace
}  // namespace smarthost::dkim
