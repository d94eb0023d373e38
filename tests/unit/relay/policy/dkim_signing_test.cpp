#include "relay/policy/dkim_signing.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

DkimKeyRef key(std::int64_t id, dkim::Algorithm algorithm, bool published) {
    DkimKeyRef ref;
    ref.id = id;
    ref.selector = "s" + std::to_string(id);
    ref.algorithm = algorithm;
    ref.published = published;
    return ref;
}

AccountPolicy account() {
    AccountPolicy policy;
    SenderDomain parent{"shop.example", true, true};
    parent.dkim_keys = {key(1, dkim::Algorithm::rsa_sha256, true),
                        key(2, dkim::Algorithm::ed25519_sha256, false)};
    SenderDomain news{"news.shop.example", false, true};
    news.dkim_keys = {key(3, dkim::Algorithm::rsa_sha256, true)};
    SenderDomain unverified{"claimed.example", false, false};
    unverified.dkim_keys = {key(4, dkim::Algorithm::rsa_sha256, true)};
    unverified.dkim_policy = DkimPolicy::always;
    policy.sender_domains = {parent, news, unverified};
    return policy;
}

TEST(DkimSigningChoiceTest, TheVerifiedDomainOfFromSignsWithItsPublishedKeys) {
    const auto policy = account();
    const auto choice = choose_signing_keys(policy, "shop.example");
    ASSERT_EQ(choice.decision, SigningDecision::sign);
    EXPECT_EQ(choice.domain->domain, "shop.example");
    ASSERT_EQ(choice.keys.size(), 1u);  // the Ed25519 key's record is not seen yet
    EXPECT_EQ(choice.keys[0]->id, 1);
}

TEST(DkimSigningChoiceTest, ASubdomainSignsWithTheMostSpecificVerifiedDomain) {
    const auto policy = account();
    EXPECT_EQ(choose_signing_keys(policy, "news.shop.example").keys.at(0)->id, 3);
    const auto deeper = choose_signing_keys(policy, "eu.mail.shop.example");
    ASSERT_EQ(deeper.decision, SigningDecision::sign);
    EXPECT_EQ(deeper.domain->domain, "shop.example");
}

TEST(DkimSigningChoiceTest, NothingSignsForADomainThatIsNotTheAccountsOrNotVerified) {
    const auto policy = account();
    EXPECT_EQ(choose_signing_keys(policy, "other.example").decision,
              SigningDecision::no_matching_domain);
    // Policy 'always' does not lift the ownership proof: d= is only ever a verified domain.
    EXPECT_EQ(choose_signing_keys(policy, "claimed.example").decision,
              SigningDecision::no_matching_domain);
    EXPECT_EQ(choose_signing_keys(policy, "").decision, SigningDecision::no_author_domain);
    // "evilshop.example" is not below "shop.example".
    EXPECT_EQ(choose_signing_keys(policy, "evilshop.example").decision,
              SigningDecision::no_matching_domain);
}

TEST(DkimSigningChoiceTest, ThePolicyDecidesAboutKeysNotYetPublished) {
    auto policy = account();
    auto& domain = policy.sender_domains[0];
    domain.dkim_policy = DkimPolicy::always;
    EXPECT_EQ(choose_signing_keys(policy, "shop.example").keys.size(), 2u);  // dual signing
    domain.dkim_policy = DkimPolicy::off;
    EXPECT_EQ(choose_signing_keys(policy, "shop.example").decision, SigningDecision::policy_off);
    domain.dkim_policy = DkimPolicy::verified;
    domain.dkim_keys[0].published = false;
    EXPECT_EQ(choose_signing_keys(policy, "shop.example").decision,
              SigningDecision::key_not_published);
    domain.dkim_keys.clear();
    EXPECT_EQ(choose_signing_keys(policy, "shop.example").decision, SigningDecision::no_active_key);
}

TEST(DkimSigningChoiceTest, PolicyNamesReadBack) {
    for (const auto policy : {DkimPolicy::off, DkimPolicy::verified, DkimPolicy::always})
        EXPECT_EQ(parse_dkim_policy(to_string(policy)), policy);
    EXPECT_FALSE(parse_dkim_policy("sometimes"));
}

}  // namespace
}  // namespace smarthost::policy
