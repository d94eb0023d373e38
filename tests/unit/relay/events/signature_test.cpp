#include "relay/events/signature.hpp"

#include <gtest/gtest.h>

namespace smarthost::events {
namespace {

// The vector of the Standard Webhooks specification, computed independently with:
//   python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
//     m=b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}";
//     print(base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode())'
// which prints g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
TEST(WebhookSignature, MatchesAnIndependentlyComputedVector) {
    const auto key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    ASSERT_TRUE(key);
    EXPECT_EQ(sign(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSignature, CoversTheTimestampAndTheBody) {
    const auto key = *secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    const auto reference = sign(key, "id", 100, "{}");
    EXPECT_NE(sign(key, "id", 101, "{}"), reference);
    EXPECT_NE(sign(key, "id", 100, "{ }"), reference);
    EXPECT_NE(sign(key, "ie", 100, "{}"), reference);
}

TEST(WebhookSignature, GeneratedSecretsAreThirtyTwoRandomOctetsBehindTheirPrefix) {
    const auto first = generate_secret();
    const auto second = generate_secret();
    EXPECT_TRUE(first.starts_with("whsec_"));
    EXPECT_NE(first, second);
    const auto key = secret_key(first);
    ASSERT_TRUE(key);
    EXPECT_EQ(key->size(), 32u);
}

TEST(WebhookSignature, RejectsSecretsThatAreNotWhsec) {
    EXPECT_FALSE(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    EXPECT_FALSE(secret_key("whsec_"));
    EXPECT_FALSE(secret_key("whsec_not base64!"));
}

}  // namespace
}  // namespace smarthost::events
