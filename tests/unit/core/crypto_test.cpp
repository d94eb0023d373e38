#include "core/crypto.hpp"

#include <gtest/gtest.h>

namespace smarthost::crypto {
namespace {

TEST(Crypto, PasswordHashIsArgon2idAndVerifiesOnlyTheRightPassword) {
    init();
    const auto hash = hash_password("correct horse");
    EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
    EXPECT_TRUE(verify_password(hash, "correct horse"));
    EXPECT_FALSE(verify_password(hash, "correct horsE"));
    EXPECT_FALSE(verify_password("not a hash", "correct horse"));
}

TEST(Crypto, RandomPasswordsHaveTheLengthAndDiffer) {
    init();
    const auto a = random_password(24), b = random_password(24);
    EXPECT_EQ(a.size(), 24u);
    EXPECT_NE(a, b);
}

TEST(Crypto, Sha256OfAbcMatchesTheFips180Vector) {
    const auto d = sha256("abc");
    EXPECT_EQ(d[0], 0xba);
    EXPECT_EQ(d[31], 0xad);
}

}  // namespace
}  // namespace smarthost::crypto
