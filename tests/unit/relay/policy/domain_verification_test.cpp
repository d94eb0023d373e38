#include "relay/policy/domain_verification.hpp"

#include <gtest/gtest.h>

namespace smarthost::policy {
namespace {

constexpr const char* k_token = "0123456789abcdef0123456789abcdef";

TEST(DomainVerification, RecordNameAndText) {
    EXPECT_EQ(verification_record_name("_smarthost", "shop.example"), "_smarthost.shop.example");
    EXPECT_EQ(verification_record_text(k_token),
              "smarthost-verification=0123456789abcdef0123456789abcdef");
}

TEST(DomainVerification, OnlyTheExactRecordProvesOwnership) {
    const std::string exact = verification_record_text(k_token);
    EXPECT_TRUE(proves_ownership({"v=spf1 -all", exact}, k_token));
    EXPECT_FALSE(proves_ownership({exact + " "}, k_token));
    EXPECT_FALSE(
        proves_ownership({"smarthost-verification=0123456789ABCDEF0123456789ABCDEF"}, k_token));
    EXPECT_FALSE(proves_ownership({"x" + exact}, k_token));
    EXPECT_FALSE(proves_ownership({}, k_token));
    EXPECT_FALSE(proves_ownership({"smarthost-verification="}, ""));
}

TEST(DomainVerification, FoundRecordVerifies) {
    for (auto current : {DomainStatus::pending, DomainStatus::verified, DomainStatus::failed}) {
        EXPECT_EQ(status_after_lookup(current, dns::AnswerStatus::ok, true),
                  DomainStatus::verified);
    }
}

TEST(DomainVerification, MissingRecordFailsAVerifiedDomainAndKeepsOthers) {
    for (auto answer :
         {dns::AnswerStatus::ok, dns::AnswerStatus::nxdomain, dns::AnswerStatus::nodata}) {
        EXPECT_EQ(status_after_lookup(DomainStatus::verified, answer, false), DomainStatus::failed);
        EXPECT_EQ(status_after_lookup(DomainStatus::pending, answer, false), DomainStatus::pending);
        EXPECT_EQ(status_after_lookup(DomainStatus::failed, answer, false), DomainStatus::failed);
    }
}

TEST(DomainVerification, DnsTroubleChangesNothing) {
    EXPECT_EQ(status_after_lookup(DomainStatus::verified, dns::AnswerStatus::temporary, false),
              std::nullopt);
    EXPECT_EQ(status_after_lookup(DomainStatus::pending, dns::AnswerStatus::timeout, false),
              std::nullopt);
}

TEST(DomainVerification, StatusNamesRoundTrip) {
    for (auto s : {DomainStatus::pending, DomainStatus::verified, DomainStatus::failed}) {
        EXPECT_EQ(parse_domain_status(to_string(s)), s);
    }
    EXPECT_EQ(parse_domain_status("unknown"), std::nullopt);
}

}  // namespace
}  // namespace smarthost::policy
