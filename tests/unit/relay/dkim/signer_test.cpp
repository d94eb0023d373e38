#include "relay/dkim/signer.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace smarthost::dkim {
namespace {

using namespace std::chrono_literals;

// RFC 8463 appendix A: the example message signed by both an Ed25519 and an RSA key, and
// the two key records.
constexpr std::string_view k_rfc8463_message =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";
constexpr std::string_view k_rfc8463_ed25519_record =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr std::string_view k_rfc8463_rsa_record =
    "v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5b"
    "dOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9"
    "PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

const auto k_now = std::chrono::sys_days{std::chrono::year{2026} / 12 / 7} + 5h;

std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
    std::string result(text);
    const auto at = result.find(from);
    if (at != std::string::npos) result.replace(at, from.size(), to);
    return result;
}

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(SMARTHOST_DKIM_TEST_DATA) + "/" + name, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    auto text = content.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text;
}

bool verifies_with(std::string_view message, std::string_view selector, std::string_view record) {
    const auto key = PublicKey::from_record(record);
    if (!key) return false;
    for (const auto& found : signatures_in(message))
        if (found.signature.selector == selector) return verify(message, found, *key, k_now);
    return false;
}

TEST(DkimVerifyTest, TheRfc8463ExampleVerifiesWithBothKeys) {
    EXPECT_EQ(signatures_in(k_rfc8463_message).size(), 2u);
    EXPECT_TRUE(verifies_with(k_rfc8463_message, "brisbane", k_rfc8463_ed25519_record));
    EXPECT_TRUE(verifies_with(k_rfc8463_message, "test", k_rfc8463_rsa_record));
}

TEST(DkimVerifyTest, ATamperedRfc8463ExampleFails) {
    const auto body = replaced(k_rfc8463_message, "We lost", "We won");
    EXPECT_FALSE(verifies_with(body, "brisbane", k_rfc8463_ed25519_record));
    EXPECT_FALSE(verifies_with(body, "test", k_rfc8463_rsa_record));
    const auto subject = replaced(k_rfc8463_message, "dinner ready", "lunch ready");
    EXPECT_FALSE(verifies_with(subject, "brisbane", k_rfc8463_ed25519_record));
    // Another key of the right type does not verify it either.
    const auto other = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(other);
    EXPECT_FALSE(verifies_with(k_rfc8463_message, "brisbane",
                               key_record_text(other->algorithm(), other->public_key_base64())));
}

TEST(DkimVerifyTest, RefoldingAndTrailingWhiteSpaceDoNotBreakARelaxedSignature) {
    auto moved = replaced(k_rfc8463_message, "Subject: Is dinner ready?",
                          "Subject:  Is\r\n dinner  ready? ");
    moved = replaced(moved, "Joe.\r\n", "Joe.  \r\n\r\n\r\n");
    EXPECT_TRUE(verifies_with(moved, "brisbane", k_rfc8463_ed25519_record));
}

TEST(DkimVerifyTest, SignaturesOfAnIndependentSignerVerify) {
    for (const std::string name : {"rsa", "ed25519"}) {
        SCOPED_TRACE(name);
        const auto message = read_data("independent_" + name + ".eml") + "\r\n";
        const auto record = read_data("independent_" + name + ".txt");
        ASSERT_FALSE(message.empty());
        const auto found = signatures_in(message);
        ASSERT_EQ(found.size(), 1u);
        EXPECT_TRUE(verifies_with(message, found[0].signature.selector, record));
        EXPECT_FALSE(verifies_with(replaced(message, "ships", "sinks"), found[0].signature.selector,
                                   record));
    }
}

std::string sample_message() {
    return "Received: from client (client [127.0.0.1])\r\n\tby relay; Mon, 7 Dec 2026 05:00:00 "
           "+0000\r\n"
           "From: Alice <alice@shop.example>\r\n"
           "To: bob@customer.test\r\n"
           "Subject: Order  1234\r\n"
           "Date: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
           "Message-ID: <1234@shop.example>\r\n"
           "\r\n"
           "Thank you.\r\n";
}

TEST(DkimSignTest, SignaturesOfEachAlgorithmVerifyAndCoverTheMessage) {
    auto rsa = PrivateKey::generate(Algorithm::rsa_sha256);
    auto ed = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(rsa && ed);
    const std::vector<SigningKey> keys{SigningKey{"shop.example", "sh2026q4", *rsa},
                                       SigningKey{"shop.example", "ed2026q4", *ed}};
    const auto message = sample_message();
    const auto fields = sign(message, keys, SigningOptions{k_now, 7 * 24h});
    ASSERT_TRUE(fields) << fields.error().message;
    const auto signed_message = *fields + message;
    const auto found = signatures_in(signed_message);
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0].signature.timestamp,
              std::chrono::duration_cast<std::chrono::seconds>(k_now.time_since_epoch()).count());
    EXPECT_EQ(*found[0].signature.expiration - *found[0].signature.timestamp, 7 * 24 * 3600);
    EXPECT_EQ(found[0].signature.signed_headers,
              (std::vector<std::string>{"From", "From", "To", "Subject", "Date", "Message-ID"}));
    const auto rsa_record = key_record_text(rsa->algorithm(), rsa->public_key_base64());
    const auto ed_record = key_record_text(ed->algorithm(), ed->public_key_base64());
    EXPECT_TRUE(verifies_with(signed_message, "sh2026q4", rsa_record));
    EXPECT_TRUE(verifies_with(signed_message, "ed2026q4", ed_record));

    // A changed body, a changed subject, an added From, and the time past x= all fail.
    EXPECT_FALSE(verifies_with(replaced(signed_message, "Thank you.", "Thank you!"), "sh2026q4",
                               rsa_record));
    EXPECT_FALSE(verifies_with(replaced(signed_message, "Order  1234", "Order 9999"), "ed2026q4",
                               ed_record));
    EXPECT_FALSE(
        verifies_with(replaced(signed_message, "To: bob", "From: mallory@evil.test\r\nTo: bob"),
                      "sh2026q4", rsa_record));
    const auto key = PublicKey::from_record(rsa_record);
    ASSERT_TRUE(key);
    EXPECT_FALSE(verify(signed_message, found[0], *key, k_now + 8 * 24h));
    // A field that is not signed may change.
    EXPECT_TRUE(verifies_with(replaced(signed_message, "by relay", "by another relay"), "sh2026q4",
                              rsa_record));
}

TEST(DkimSignTest, Ed25519SignaturesAreDeterministic) {
    auto ed = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(ed);
    const std::vector<SigningKey> keys{SigningKey{"shop.example", "ed", *ed}};
    EXPECT_EQ(sign(sample_message(), keys, SigningOptions{k_now, {}}).value(),
              sign(sample_message(), keys, SigningOptions{k_now, {}}).value());
}

TEST(DkimSignTest, AMessageWithoutABodyIsSigned) {
    auto ed = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(ed);
    const std::string message = "From: a@shop.example\r\nSubject: empty\r\n\r\n";
    const auto fields =
        sign(message, {SigningKey{"shop.example", "ed", *ed}}, SigningOptions{k_now, {}});
    ASSERT_TRUE(fields);
    EXPECT_TRUE(verifies_with(*fields + message, "ed",
                              key_record_text(ed->algorithm(), ed->public_key_base64())));
}

TEST(DkimSignTest, AMessageAlreadySignedByAKeyIsRecognisedAndOnlyAFewSignaturesAreChecked) {
    auto rsa = PrivateKey::generate(Algorithm::rsa_sha256);
    auto other = PrivateKey::generate(Algorithm::rsa_sha256);
    ASSERT_TRUE(rsa && other);
    const std::vector<SigningKey> keys{SigningKey{"shop.example", "sh2026q4", *rsa}};
    const auto message = sample_message();
    const auto ours = sign(message, keys, SigningOptions{k_now, {}}).value();
    EXPECT_EQ(already_signed_by(ours + message, keys, k_now), 0u);
    EXPECT_FALSE(already_signed_by(message, keys, k_now));
    // A signature by another key under the same selector is not ours.
    const auto forged =
        sign(message, {SigningKey{"shop.example", "sh2026q4", *other}}, SigningOptions{k_now, {}})
            .value();
    EXPECT_FALSE(already_signed_by(forged + message, keys, k_now));
    // Behind three forged ones, a valid signature is not looked at: each check costs a body
    // hash and an RSA operation, and the message decides how many there are.
    EXPECT_EQ(already_signed_by(forged + forged + ours + message, keys, k_now), 0u);
    EXPECT_FALSE(already_signed_by(forged + forged + forged + ours + message, keys, k_now));
}

}  // namespace
}  // namespace smarthost::dkim
