#include "relay/delivery/dane.hpp"

#include <gtest/gtest.h>

namespace smarthost::delivery {
namespace {

using dns::AnswerStatus;
using dns::TlsaAnswer;
using dns::TlsaRecord;
using Kind = DaneDecision::Kind;

const std::string k_name = "_25._tcp.mx.example.com";

TlsaRecord record(std::uint8_t usage, std::uint8_t selector, std::uint8_t matching_type,
                  std::size_t data_bytes = 32) {
    TlsaRecord r;
    r.usage = usage;
    r.selector = selector;
    r.matching_type = matching_type;
    r.data = std::string(data_bytes, '\x5a');
    return r;
}

TlsaAnswer secure_answer(std::vector<TlsaRecord> records) {
    TlsaAnswer answer;
    answer.status = AnswerStatus::ok;
    answer.records = std::move(records);
    answer.ttl_seconds = 300;
    answer.secure = true;
    return answer;
}

TlsaAnswer status_only(AnswerStatus status, bool secure) {
    TlsaAnswer answer;
    answer.status = status;
    answer.secure = secure;
    return answer;
}

TEST(Dane, TlsaIsLookedUpOnlyWhenTheMxAndTheAddressesAreSecure) {
    EXPECT_TRUE(needs_tlsa_lookup(true, true));
    EXPECT_FALSE(needs_tlsa_lookup(true, false));
    EXPECT_FALSE(needs_tlsa_lookup(false, true));
    EXPECT_FALSE(needs_tlsa_lookup(false, false));
}

TEST(Dane, TlsaNameUsesThePortConnectedTo) {
    EXPECT_EQ(tlsa_name("mx.example.com", 25), "_25._tcp.mx.example.com");
    EXPECT_EQ(tlsa_name("mx.example.com", 2525), "_2525._tcp.mx.example.com");
}

TEST(Dane, OnlyDaneTaAndDaneEeWithKnownParametersAreUsable) {
    EXPECT_TRUE(usable_for_smtp(record(3, 1, 1)));
    EXPECT_TRUE(usable_for_smtp(record(3, 0, 1)));
    EXPECT_TRUE(usable_for_smtp(record(2, 0, 2, 64)));
    EXPECT_TRUE(usable_for_smtp(record(2, 1, 0, 91)));
    EXPECT_FALSE(usable_for_smtp(record(0, 0, 1)));  // PKIX-TA: RFC 7672 section 3.1.3
    EXPECT_FALSE(usable_for_smtp(record(1, 1, 1)));  // PKIX-EE
    EXPECT_FALSE(usable_for_smtp(record(4, 1, 1)));
    EXPECT_FALSE(usable_for_smtp(record(3, 2, 1)));
    EXPECT_FALSE(usable_for_smtp(record(3, 1, 3)));
    EXPECT_FALSE(usable_for_smtp(record(3, 1, 1, 31)));  // not a SHA2-256 digest
    EXPECT_FALSE(usable_for_smtp(record(3, 1, 2, 32)));  // not a SHA2-512 digest
    EXPECT_FALSE(usable_for_smtp(record(3, 1, 0, 0)));
}

TEST(Dane, SecureUsableRecordsRequireAuthenticatedTls) {
    const auto decision =
        decide_dane(secure_answer({record(3, 1, 1), record(0, 0, 1), record(2, 0, 1)}), k_name);
    EXPECT_EQ(decision.kind, Kind::authenticated);
    ASSERT_EQ(decision.records.size(), 2u);  // the PKIX-TA record is left out
    EXPECT_EQ(decision.records[0], record(3, 1, 1));
    EXPECT_EQ(decision.records[1], record(2, 0, 1));
}

TEST(Dane, SecureRecordsThatAreAllUnusableStillMakeTlsMandatory) {
    const auto decision = decide_dane(secure_answer({record(1, 1, 1), record(3, 9, 1)}), k_name);
    EXPECT_EQ(decision.kind, Kind::unauthenticated);
    EXPECT_TRUE(decision.records.empty());
}

TEST(Dane, AtMostSixteenRecordsAreUsed) {
    std::vector<TlsaRecord> many;
    for (int i = 0; i < 40; ++i) {
        auto r = record(3, 1, 1);
        r.data[0] = static_cast<char>(i);
        many.push_back(r);
    }
    const auto decision = decide_dane(secure_answer(many), k_name);
    EXPECT_EQ(decision.kind, Kind::authenticated);
    ASSERT_EQ(decision.records.size(), k_max_tlsa_records);
    EXPECT_EQ(decision.records.back().data[0], static_cast<char>(k_max_tlsa_records - 1));
}

TEST(Dane, InsecureRecordsOrASecureDenialLeaveTheOrdinaryPolicy) {
    auto insecure = secure_answer({record(3, 1, 1)});
    insecure.secure = false;
    EXPECT_EQ(decide_dane(insecure, k_name).kind, Kind::ordinary);
    EXPECT_EQ(decide_dane(status_only(AnswerStatus::nodata, true), k_name).kind, Kind::ordinary);
    EXPECT_EQ(decide_dane(status_only(AnswerStatus::nxdomain, true), k_name).kind, Kind::ordinary);
}

TEST(Dane, AFailedLookupDefersTheHostNamingDane) {
    for (auto status : {AnswerStatus::temporary, AnswerStatus::timeout}) {
        const auto decision = decide_dane(status_only(status, false), k_name);
        EXPECT_EQ(decision.kind, Kind::defer);
        EXPECT_NE(decision.reason.find("DANE"), std::string::npos) << decision.reason;
        EXPECT_NE(decision.reason.find(k_name), std::string::npos) << decision.reason;
    }
    const Result<TlsaAnswer> error = Error{"malformed DNS record for " + k_name, "", true};
    const auto decision = decide_dane(error, k_name);
    EXPECT_EQ(decision.kind, Kind::defer);
    EXPECT_NE(decision.reason.find("malformed"), std::string::npos) << decision.reason;
}

}  // namespace
}  // namespace smarthost::delivery
