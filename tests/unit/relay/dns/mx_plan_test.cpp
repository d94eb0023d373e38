#include "relay/dns/mx_plan.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "relay/dns/address_policy.hpp"

namespace smarthost::dns {
namespace {

MxAnswer mx_answer(std::vector<MxRecord> records) {
    return MxAnswer{AnswerStatus::ok, std::move(records), 300, 0};
}

MxAnswer mx_status(AnswerStatus status, int rcode = 0) {
    return MxAnswer{status, {}, 0, rcode};
}

std::vector<std::string> names(const MxPlan& plan) {
    std::vector<std::string> result;
    for (const MxHost& host : plan.hosts)
        result.push_back(host.name);
    return result;
}

TEST(MxPlan, HostsAreOrderedByPreference) {
    std::mt19937_64 random(1);
    auto plan = plan_mx(
        "example.com",
        mx_answer({{30, "c.example.com"}, {10, "a.example.com"}, {20, "b.example.com"}}), random);
    ASSERT_EQ(plan.verdict, Verdict::proceed);
    EXPECT_EQ(names(plan),
              (std::vector<std::string>{"a.example.com", "b.example.com", "c.example.com"}));
    EXPECT_EQ(plan.hosts[0].preference, 10);
    EXPECT_FALSE(plan.hosts[0].implicit);
}

TEST(MxPlan, EqualPreferencesAreShuffledButStayInTheirRank) {
    std::set<std::vector<std::string>> orders;
    for (std::uint64_t seed = 0; seed < 64; ++seed) {
        std::mt19937_64 random(seed);
        auto plan =
            plan_mx("example.com",
                    mx_answer({{20, "b1"}, {10, "a"}, {20, "b2"}, {20, "b3"}, {30, "c"}}), random);
        ASSERT_EQ(plan.verdict, Verdict::proceed);
        auto order = names(plan);
        ASSERT_EQ(order.size(), 5u);
        EXPECT_EQ(order.front(), "a");
        EXPECT_EQ(order.back(), "c");
        orders.insert(order);
    }
    // Three hosts of equal preference have six orders; 64 seeds see more than one.
    EXPECT_GT(orders.size(), 1u);
}

TEST(MxPlan, TheSameSeedGivesTheSameOrder) {
    const auto answer = mx_answer({{10, "a"}, {10, "b"}, {10, "c"}, {10, "d"}});
    std::mt19937_64 first(42), second(42);
    EXPECT_EQ(names(plan_mx("example.com", answer, first)),
              names(plan_mx("example.com", answer, second)));
}

TEST(MxPlan, DuplicateExchangesKeepTheirBestPreference) {
    std::mt19937_64 random(1);
    auto plan =
        plan_mx("example.com",
                mx_answer({{20, "mx.example.com"}, {10, "MX.example.com"}, {15, "b"}}), random);
    ASSERT_EQ(plan.hosts.size(), 2u);
    EXPECT_EQ(plan.hosts[0], (MxHost{"MX.example.com", 10, false}));
    EXPECT_EQ(plan.hosts[1], (MxHost{"b", 15, false}));
}

TEST(MxPlan, NoMxRecordsMeansTheDomainIsItsOwnImplicitMx) {
    std::mt19937_64 random(1);
    auto plan = plan_mx("example.com", mx_status(AnswerStatus::nodata), random);
    ASSERT_EQ(plan.verdict, Verdict::proceed);
    ASSERT_EQ(plan.hosts.size(), 1u);
    EXPECT_EQ(plan.hosts[0], (MxHost{"example.com", 0, true}));
}

TEST(MxPlan, NullMxBouncesWith5110) {
    std::mt19937_64 random(1);
    auto plan = plan_mx("example.com", mx_answer({{0, "."}}), random);
    EXPECT_EQ(plan.verdict, Verdict::bounce);
    EXPECT_EQ(plan.enhanced_status, "5.1.10");
    EXPECT_EQ(plan.reason, "domain example.com does not accept mail (null MX)");
    EXPECT_TRUE(plan.hosts.empty());
}

TEST(MxPlan, NullMxNextToRealMxRecordsIsIgnored) {
    std::mt19937_64 random(1);
    auto plan = plan_mx("example.com", mx_answer({{0, "."}, {10, "mx.example.com"}}), random);
    ASSERT_EQ(plan.verdict, Verdict::proceed);
    EXPECT_EQ(names(plan), std::vector<std::string>{"mx.example.com"});
}

TEST(MxPlan, NxdomainBouncesWith512) {
    std::mt19937_64 random(1);
    auto plan = plan_mx("nowhere.example", mx_status(AnswerStatus::nxdomain, 3), random);
    EXPECT_EQ(plan.verdict, Verdict::bounce);
    EXPECT_EQ(plan.enhanced_status, "5.1.2");
    EXPECT_EQ(plan.reason, "domain nowhere.example does not exist");
}

TEST(MxPlan, ServfailDefersWith443) {
    std::mt19937_64 random(1);
    auto plan = plan_mx("example.com", mx_status(AnswerStatus::temporary, 2), random);
    EXPECT_EQ(plan.verdict, Verdict::defer);
    EXPECT_EQ(plan.enhanced_status, "4.4.3");
    EXPECT_EQ(plan.reason, "MX lookup for example.com failed temporarily");
}

TEST(MxPlan, TimeoutDefersWith443) {
    std::mt19937_64 random(1);
    auto plan = plan_mx("example.com", mx_status(AnswerStatus::timeout), random);
    EXPECT_EQ(plan.verdict, Verdict::defer);
    EXPECT_EQ(plan.enhanced_status, "4.4.3");
    EXPECT_EQ(plan.reason, "MX lookup for example.com timed out");
}

TEST(MxPlan, LookupErrorDefers) {
    std::mt19937_64 random(1);
    auto plan =
        plan_mx("example.com", Result<MxAnswer>(Error{"malformed DNS record", "", true}), random);
    EXPECT_EQ(plan.verdict, Verdict::defer);
    EXPECT_EQ(plan.enhanced_status, "4.4.3");
    EXPECT_EQ(plan.reason, "MX lookup for example.com failed: malformed DNS record");
}

AddressAnswer addresses(std::vector<std::string> records) {
    return AddressAnswer{AnswerStatus::ok, std::move(records), 300, 0};
}

TEST(HostPlan, AllowedAddressesAreKeptInOrder) {
    AddressPolicy policy;
    auto targets = plan_host(MxHost{"mx.example.com", 10, false},
                             addresses({"93.184.216.34", "2606:2800:220:1::1"}), policy);
    ASSERT_EQ(targets.verdict, Verdict::proceed);
    EXPECT_EQ(targets.addresses, (std::vector<std::string>{"93.184.216.34", "2606:2800:220:1::1"}));
    EXPECT_TRUE(targets.refused.empty());
}

TEST(HostPlan, RefusedAddressesAreDroppedWithTheirReason) {
    AddressPolicy policy;
    auto targets = plan_host(MxHost{"mx.example.com", 10, false},
                             addresses({"10.0.0.1", "93.184.216.34"}), policy);
    ASSERT_EQ(targets.verdict, Verdict::proceed);
    EXPECT_EQ(targets.addresses, std::vector<std::string>{"93.184.216.34"});
    EXPECT_EQ(targets.refused,
              std::vector<std::string>{"10.0.0.1 is a private address (10.0.0.0/8)"});
}

TEST(HostPlan, OnlyRefusedAddressesBounceWith544) {
    AddressPolicy policy;
    auto targets =
        plan_host(MxHost{"mx.example.com", 10, false}, addresses({"127.0.0.1", "::1"}), policy);
    EXPECT_EQ(targets.verdict, Verdict::bounce);
    EXPECT_EQ(targets.enhanced_status, "5.4.4");
    EXPECT_EQ(targets.reason,
              "no permitted address for mx.example.com; 127.0.0.1 is a loopback address "
              "(127.0.0.0/8); ::1 is a loopback address (::1/128)");
}

TEST(HostPlan, LoopbackIsUsableWhenAllowed) {
    AddressPolicy policy({"127.0.0.0/8"});
    auto targets = plan_host(MxHost{"mx.example.com", 10, false}, addresses({"127.0.0.2"}), policy);
    ASSERT_EQ(targets.verdict, Verdict::proceed);
    EXPECT_EQ(targets.addresses, std::vector<std::string>{"127.0.0.2"});
}

TEST(HostPlan, ImplicitMxWithoutAddressesBounces) {
    AddressPolicy policy;
    auto targets = plan_host(MxHost{"example.com", 0, true},
                             AddressAnswer{AnswerStatus::nodata, {}, 0, 0}, policy);
    EXPECT_EQ(targets.verdict, Verdict::bounce);
    EXPECT_EQ(targets.enhanced_status, "5.4.4");
    EXPECT_EQ(targets.reason, "domain example.com has no MX and no address");
}

TEST(HostPlan, ImplicitMxThatVanishedBouncesWith512) {
    AddressPolicy policy;
    auto targets = plan_host(MxHost{"example.com", 0, true},
                             AddressAnswer{AnswerStatus::nxdomain, {}, 0, 3}, policy);
    EXPECT_EQ(targets.verdict, Verdict::bounce);
    EXPECT_EQ(targets.enhanced_status, "5.1.2");
}

TEST(HostPlan, MxHostWithoutAddressIsAPermanentFailureOfThatHost) {
    AddressPolicy policy;
    auto missing = plan_host(MxHost{"mx.example.com", 10, false},
                             AddressAnswer{AnswerStatus::nxdomain, {}, 0, 3}, policy);
    EXPECT_EQ(missing.verdict, Verdict::bounce);
    EXPECT_EQ(missing.enhanced_status, "5.4.4");
    EXPECT_EQ(missing.reason, "MX host mx.example.com does not exist");
    auto empty = plan_host(MxHost{"mx.example.com", 10, false},
                           AddressAnswer{AnswerStatus::nodata, {}, 0, 0}, policy);
    EXPECT_EQ(empty.verdict, Verdict::bounce);
    EXPECT_EQ(empty.reason, "MX host mx.example.com has no address");
}

TEST(HostPlan, AddressLookupFailureDefers) {
    AddressPolicy policy;
    const MxHost host{"mx.example.com", 10, false};
    auto timed_out = plan_host(host, AddressAnswer{AnswerStatus::timeout, {}, 0, 0}, policy);
    EXPECT_EQ(timed_out.verdict, Verdict::defer);
    EXPECT_EQ(timed_out.enhanced_status, "4.4.3");
    EXPECT_EQ(timed_out.reason, "address lookup for mx.example.com timed out");
    auto servfail = plan_host(host, AddressAnswer{AnswerStatus::temporary, {}, 0, 2}, policy);
    EXPECT_EQ(servfail.verdict, Verdict::defer);
    auto error = plan_host(host, Result<AddressAnswer>(Error{"boom", "", true}), policy);
    EXPECT_EQ(error.verdict, Verdict::defer);
    EXPECT_EQ(error.reason, "address lookup for mx.example.com failed: boom");
}

}  // namespace
}  // namespace smarthost::dns
