// imported_token_problem: what `smarthost token import` accepts as a bearer token.

#include "admin-api/tokens.hpp"

#include <gtest/gtest.h>

namespace smarthost::admin {
namespace {

const std::string k_valid = "sht_" + std::string(28, 'a');  // 32 characters

TEST(ImportedTokenProblem, AcceptsEveryB64tokenCharacterAndTrailingPadding) {
    EXPECT_EQ(imported_token_problem(k_valid), std::nullopt);
    EXPECT_EQ(
        imported_token_problem("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                               "-._~+/"),
        std::nullopt);
    EXPECT_EQ(imported_token_problem(k_valid + "=="), std::nullopt);
}

TEST(ImportedTokenProblem, RefusesTokensShorterThan32CharactersSayingTheLength) {
    EXPECT_EQ(imported_token_problem(k_valid.substr(0, 31)),
              "the token is 31 characters long; at least 32 are required");
    EXPECT_EQ(imported_token_problem(""),
              "the token is 0 characters long; at least 32 are required");
}

TEST(ImportedTokenProblem, RefusesATokenOfPaddingOnly) {
    EXPECT_EQ(imported_token_problem(std::string(40, '=')), "the token consists of '=' only");
}

TEST(ImportedTokenProblem, NamesTheLineBreakEchoLeavesAtTheEnd) {
    EXPECT_EQ(imported_token_problem(k_valid + "\n"),
              "character 33 is a line break: a bearer token holds only A-Z a-z 0-9 - . _ ~ + / "
              "and '=' at its end (RFC 6750)");
    EXPECT_EQ(imported_token_problem(k_valid + "\r\n").value().substr(0, 35),
              "character 33 is a carriage return: ");
}

TEST(ImportedTokenProblem, RefusesCharactersOutsideB64tokenWithoutShowingThem) {
    for (const char c : std::string_view(" \t\"',;:@!#$%&*()[]{}<>?\\^`|\x7f\x01")) {
        auto token = k_valid;
        token[10] = c;
        const auto problem = imported_token_problem(token);
        ASSERT_TRUE(problem.has_value()) << int(c);
        EXPECT_EQ(problem->rfind("character 11 is ", 0), 0u) << *problem;
    }
    const auto utf8 = imported_token_problem(k_valid + "\xc3\xa9");
    ASSERT_TRUE(utf8.has_value());
    EXPECT_EQ(utf8->find('\xc3'), std::string::npos);
    EXPECT_EQ(utf8->rfind("character 33 is not allowed", 0), 0u) << *utf8;
}

TEST(ImportedTokenProblem, PaddingOnlyAtTheEnd) {
    auto token = k_valid;
    token[5] = '=';
    EXPECT_EQ(imported_token_problem(token).value().rfind("character 6 is not allowed", 0), 0u);
}

}  // namespace
}  // namespace smarthost::admin
