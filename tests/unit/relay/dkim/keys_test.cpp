#include "relay/dkim/keys.hpp"

#include <gtest/gtest.h>

#include "relay/dkim/key_vault.hpp"

namespace smarthost::dkim {
namespace {

using std::chrono::sys_days;
using namespace std::chrono_literals;

TEST(DkimKeysTest, GeneratedKeysHaveTheExpectedSizeAndPublishTheirPublicHalf) {
    const auto rsa = PrivateKey::generate(Algorithm::rsa_sha256);
    ASSERT_TRUE(rsa) << rsa.error().message;
    EXPECT_EQ(rsa->bits(), 2048u);
    EXPECT_TRUE(rsa->public_key_base64().starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
    const auto ed = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(ed) << ed.error().message;
    EXPECT_EQ(base64_decode(ed->public_key_base64())->size(), 32u);
    const auto record = key_record_text(ed->algorithm(), ed->public_key_base64());
    EXPECT_TRUE(record.starts_with("v=DKIM1; k=ed25519; p="));
    EXPECT_EQ(public_key_of_record(record), ed->public_key_base64());
    EXPECT_EQ(public_key_of_record("v=DKIM1; k=rsa; p=MIIB AQAB"), "MIIBAQAB");
    EXPECT_EQ(public_key_of_record("v=DKIM1; p="), "");           // revoked
    EXPECT_FALSE(public_key_of_record("k=rsa; v=DKIM1; p=abc"));  // v= must be first
    EXPECT_FALSE(public_key_of_record("v=spf1 -all"));
    EXPECT_FALSE(public_key_of_record("v=DKIM2; p=abc"));
    EXPECT_EQ(public_key_of_record("p=abc"), "abc");
    EXPECT_FALSE(public_key_of_record("v=DKIM1; k=rsa"));
}

TEST(DkimKeysTest, APemRoundTripKeepsTheKey) {
    const auto key = PrivateKey::generate(Algorithm::rsa_sha256);
    ASSERT_TRUE(key);
    const auto pem = key->pem();
    EXPECT_TRUE(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    const auto back = PrivateKey::from_pem(pem);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->public_key_base64(), key->public_key_base64());
    const auto signature = back->sign("data");
    ASSERT_TRUE(signature);
    const auto published =
        PublicKey::from_record(key_record_text(key->algorithm(), key->public_key_base64()));
    ASSERT_TRUE(published) << published.error().message;
    EXPECT_TRUE(published->verifies("data", *signature));
    EXPECT_FALSE(published->verifies("datA", *signature));
}

TEST(DkimKeysTest, ImportRefusesWhatIsNotAUsableKey) {
    EXPECT_FALSE(PrivateKey::from_pem("not a key"));
    EXPECT_FALSE(
        PrivateKey::from_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
                             "-----END ENCRYPTED PRIVATE KEY-----\n"));
    EXPECT_FALSE(PublicKey::from_record("v=DKIM1; k=rsa; p="));  // revoked
    EXPECT_FALSE(PublicKey::from_record("v=DKIM1; k=dsa; p=AAAA"));
    EXPECT_FALSE(PublicKey::from_record("k=rsa; v=DKIM1; p=AAAA"));      // v= must come first
    EXPECT_FALSE(PublicKey::from_record("v=DKIM1; k=ed25519; p=AAAA"));  // not 32 octets
}

TEST(DkimKeysTest, TheRecordIsCutIntoCharacterStringsOfAtMost255Octets) {
    const std::string text(600, 'p');
    const auto strings = character_strings(text);
    ASSERT_EQ(strings.size(), 3u);
    EXPECT_EQ(strings[0].size(), 255u);
    EXPECT_EQ(strings[2].size(), 90u);
    EXPECT_EQ(strings[0] + strings[1] + strings[2], text);
    EXPECT_EQ(key_record_name("sh2026q4", "shop.example"), "sh2026q4._domainkey.shop.example");
}

TEST(DkimKeysTest, SelectorsAreNamedByQuarterAndChecked) {
    EXPECT_EQ(default_selector(sys_days{std::chrono::year{2026} / 12 / 7}), "sh2026q4");
    EXPECT_EQ(default_selector(sys_days{std::chrono::year{2027} / 1 / 1} + 1s), "sh2027q1");
    EXPECT_EQ(default_selector(sys_days{std::chrono::year{2027} / 6 / 30}), "sh2027q2");
    EXPECT_TRUE(valid_selector("sh2026q4"));
    EXPECT_TRUE(valid_selector("mail.2026-12"));
    EXPECT_FALSE(valid_selector(""));
    EXPECT_FALSE(valid_selector("Upper"));
    EXPECT_FALSE(valid_selector("-lead"));
    EXPECT_FALSE(valid_selector("a..b"));
    EXPECT_FALSE(valid_selector("under_score"));
    EXPECT_FALSE(valid_selector("x._domainkey.evil.test;"));
    EXPECT_FALSE(valid_selector(std::string(64, 'a')));
}

TEST(DkimKeyVaultTest, ASealedKeyOpensOnlyForItsOwnerWithItsKek) {
    const auto vault = KeyVault::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    ASSERT_TRUE(vault) << vault.error().message;
    const std::string pem = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n";
    const auto sealed = vault->seal(pem, key_owner("shop.example", "sh2026q4"));
    EXPECT_EQ(sealed.find("secret"), std::string::npos);
    EXPECT_NE(sealed, vault->seal(pem, key_owner("shop.example", "sh2026q4")));  // fresh nonce
    const auto opened = vault->open(sealed, "shop.example/sh2026q4");
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, pem);
    EXPECT_FALSE(vault->open(sealed, "evil.example/sh2026q4"));
    auto altered = sealed;
    altered[30] = static_cast<char>(altered[30] ^ 1);
    EXPECT_FALSE(vault->open(altered, "shop.example/sh2026q4"));
    EXPECT_FALSE(vault->open(sealed.substr(0, 20), "shop.example/sh2026q4"));
    const auto other = KeyVault::from_base64("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=");
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->open(sealed, "shop.example/sh2026q4"));
}

TEST(DkimKeyVaultTest, AKekMustBe32OctetsOfBase64) {
    EXPECT_FALSE(KeyVault::from_base64(""));
    EXPECT_FALSE(KeyVault::from_base64("c2hvcnQ="));
    EXPECT_FALSE(KeyVault::from_base64("not base64 at all!"));
}

}  // namespace
}  // namespace smarthost::dkim
