// The TLS policy of one MX host (relay/delivery/transport_security): the operator's policy
// over MTA-STS over [delivery] tls.

#include "relay/delivery/transport_security.hpp"

#include <gtest/gtest.h>

namespace smarthost::delivery {
namespace {

mta_sts::Policy sts(mta_sts::Mode mode) {
    mta_sts::Policy policy;
    policy.mode = mode;
    policy.mx = {"mx.example.org"};
    policy.max_age_seconds = 3600;
    return policy;
}

DomainSecurity domain_with(std::optional<TlsPolicy> operator_policy,
                           std::optional<mta_sts::Policy> mta_sts) {
    DomainSecurity domain;
    domain.domain = "example.org";
    domain.configured = TlsPolicy::opportunistic;
    domain.operator_policy = operator_policy;
    domain.mta_sts = std::move(mta_sts);
    return domain;
}

TEST(TransportSecurity, WithoutPoliciesTheConfiguredOneApplies) {
    auto domain = domain_with(std::nullopt, std::nullopt);
    domain.configured = TlsPolicy::verify;
    const auto host = decide_host_security(domain, "mx.example.org");
    EXPECT_EQ(host.tls, TlsPolicy::verify);
    EXPECT_FALSE(host.skip);
}

TEST(TransportSecurity, MtaStsEnforceVerifiesListedHostsAndSkipsOthersWith475Reason) {
    const auto domain = domain_with(std::nullopt, sts(mta_sts::Mode::enforce));
    const auto listed = decide_host_security(domain, "MX.example.org");
    EXPECT_EQ(listed.tls, TlsPolicy::verify);
    EXPECT_TRUE(listed.mta_sts_enforced);
    const auto other = decide_host_security(domain, "mx.elsewhere.test");
    EXPECT_TRUE(other.skip);
    EXPECT_EQ(other.reason,
              "MTA-STS policy of example.org does not list MX host mx.elsewhere.test");
}

TEST(TransportSecurity, MtaStsTestingOnlyReportsAMismatch) {
    const auto domain = domain_with(std::nullopt, sts(mta_sts::Mode::testing));
    const auto other = decide_host_security(domain, "mx.elsewhere.test");
    EXPECT_FALSE(other.skip);
    EXPECT_EQ(other.tls, TlsPolicy::opportunistic);
    EXPECT_TRUE(other.mta_sts_testing_mismatch);
}

TEST(TransportSecurity, TheOperatorPolicyWinsOverMtaSts) {
    for (const auto policy : {TlsPolicy::opportunistic, TlsPolicy::require, TlsPolicy::verify}) {
        const auto domain = domain_with(policy, sts(mta_sts::Mode::enforce));
        const auto other = decide_host_security(domain, "mx.elsewhere.test");
        EXPECT_FALSE(other.skip);
        EXPECT_EQ(other.tls, policy);
        EXPECT_FALSE(other.mta_sts_enforced);
    }
}

TEST(TransportSecurity, OperatorPolicyNamesAreTheApisOnly) {
    EXPECT_EQ(operator_tls_from_name("require"), TlsPolicy::require);
    EXPECT_EQ(operator_tls_from_name("verify"), TlsPolicy::verify);
    EXPECT_EQ(operator_tls_from_name("opportunistic"), TlsPolicy::opportunistic);
    EXPECT_EQ(operator_tls_from_name("none"), std::nullopt);
    EXPECT_EQ(operator_tls_from_name("Verify"), std::nullopt);
}

TEST(TlsPolicy, RequireAndVerifyMakeStarttlsMandatory) {
    EXPECT_TRUE(tls_mandatory(TlsPolicy::require));
    EXPECT_TRUE(tls_mandatory(TlsPolicy::verify));
    EXPECT_FALSE(tls_mandatory(TlsPolicy::opportunistic));
    EXPECT_FALSE(tls_mandatory(TlsPolicy::none));
}

}  // namespace
}  // namespace smarthost::delivery
