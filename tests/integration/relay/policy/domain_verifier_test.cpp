// Domain ownership verification against a real DNS server (dnsmasq with TXT fixtures)
// and a real PostgreSQL: pending → verified, wrong or missing tokens, a record removed
// later, DNS trouble, the periodic round, and what the submission path then allows.

#include "relay/policy/domain_verification.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "core/pg/pool.hpp"
#include "relay/policy/account_policies.hpp"
#include "relay/policy/sender_authorization.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::policy {
namespace {

using namespace std::chrono_literals;
using test::DnsRecord;
using test::run_awaitable;

constexpr const char* k_token = "5f2b0c9e8d7a6b5c4d3e2f1a0b9c8d7e";
constexpr const char* k_other_token = "00000000000000000000000000000000";

std::string proof(const std::string& token) {
    return "smarthost-verification=" + token;
}

class DomainVerifierTest : public ::testing::Test {
  protected:
    DomainVerifierTest() : pool_(io_.get_executor(), {db_.url(), 2, 5}) {
        account_ = db_.create_account("shop");
    }

    // A DNS server with these records, and a verifier asking it.
    void serve_dns(std::vector<DnsRecord> records, std::string label = "_smarthost") {
        verifier_.reset();
        resolver_.reset();
        dns_ = std::make_unique<test::Dnsmasq>(std::move(records), 1s);
        dns::Resolver::Settings settings;
        settings.forwarders = {dns_->forwarder()};
        settings.timeout = 1500ms;
        resolver_ = std::make_unique<dns::Resolver>(io_.get_executor(), settings);
        verifier_ = std::make_unique<DomainVerifier>(io_.get_executor(), pool_, *resolver_,
                                                     DomainVerifier::Settings{label, 3600s, 100});
    }

    VerificationResult verify(std::int64_t id) {
        auto result = run_awaitable(io_, verifier_->verify(id));
        EXPECT_TRUE(result.ok()) << result.error().message;
        EXPECT_TRUE(result->has_value());
        return **result;
    }

    test::TestDatabase::Row row(std::int64_t id) {
        return db_
            .exec(
                "SELECT status, verified_at IS NOT NULL, checked_at IS NOT NULL FROM "
                "sender_domains WHERE id = $1",
                id)
            .at(0);
    }

    bool may_send_as(const std::string& sender) {
        AccountPolicies policies(pool_, 0ms);
        auto policy = run_awaitable(io_, policies.get(account_));
        EXPECT_TRUE(policy.ok());
        return !judge_sender(**policy, sender, SenderRules{true}).refused();
    }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    std::int64_t account_ = 0;
    std::unique_ptr<test::Dnsmasq> dns_;
    std::unique_ptr<dns::Resolver> resolver_;
    std::unique_ptr<DomainVerifier> verifier_;
};

TEST_F(DomainVerifierTest, PendingDomainIsVerifiedByItsTxtRecordAndLaterLosesIt) {
    const auto id = db_.add_sender_domain(account_, "shop.test", "pending", false, k_token);
    EXPECT_FALSE(may_send_as("app@shop.test"));

    serve_dns({DnsRecord::txt("_smarthost.shop.test", {"v=spf1 -all"}),
               DnsRecord::txt("_smarthost.shop.test", {proof(k_token)})});
    auto result = verify(id);
    EXPECT_TRUE(result.conclusive);
    EXPECT_EQ(result.status, DomainStatus::verified);
    EXPECT_EQ(result.domain, "shop.test");
    EXPECT_EQ(row(id), (test::TestDatabase::Row{"verified", "t", "t"}));
    EXPECT_TRUE(may_send_as("app@shop.test"));

    // The customer removes the record: the next check takes the authorization away.
    serve_dns({DnsRecord::txt("_smarthost.other.test", {proof(k_token)})});
    result = verify(id);
    EXPECT_TRUE(result.conclusive);
    EXPECT_EQ(result.status, DomainStatus::failed);
    EXPECT_EQ(*row(id)[0], "failed");
    EXPECT_FALSE(may_send_as("app@shop.test"));
}

TEST_F(DomainVerifierTest, AnotherAccountsTokenProvesNothing) {
    const auto id = db_.add_sender_domain(account_, "shop.test", "pending", false, k_token);
    serve_dns({DnsRecord::txt("_smarthost.shop.test", {proof(k_other_token)})});
    auto result = verify(id);
    EXPECT_TRUE(result.conclusive);
    EXPECT_EQ(result.status, DomainStatus::pending);
    EXPECT_EQ(row(id), (test::TestDatabase::Row{"pending", "f", "t"}));
}

TEST_F(DomainVerifierTest, TheLabelIsConfigurable) {
    const auto id = db_.add_sender_domain(account_, "shop.test", "pending", false, k_token);
    serve_dns({DnsRecord::txt("_smarthost.shop.test", {proof(k_token)})}, "_relay-proof");
    EXPECT_EQ(verify(id).status, DomainStatus::pending);
    serve_dns({DnsRecord::txt("_relay-proof.shop.test", {proof(k_token)})}, "_relay-proof");
    EXPECT_EQ(verify(id).status, DomainStatus::verified);
}

TEST_F(DomainVerifierTest, UnansweredDnsLeavesAVerifiedDomainVerified) {
    const auto id = db_.add_sender_domain(account_, "down.test", "verified", false, k_token);
    serve_dns({DnsRecord::unanswered("down.test")});
    auto result = verify(id);
    EXPECT_FALSE(result.conclusive);
    EXPECT_EQ(result.status, DomainStatus::verified);
    EXPECT_EQ(*row(id)[0], "verified");
}

TEST_F(DomainVerifierTest, UnknownDomainIdIsNotFound) {
    serve_dns({});
    auto result = run_awaitable(io_, verifier_->verify(424242));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_FALSE(result->has_value());
}

TEST_F(DomainVerifierTest, PeriodicRoundChecksEachDueDomainOnce) {
    const auto shop = db_.add_sender_domain(account_, "shop.test", "pending", false, k_token);
    const auto gone = db_.add_sender_domain(account_, "gone.test", "verified", false, k_token);
    serve_dns({DnsRecord::txt("_smarthost.shop.test", {proof(k_token)})});

    auto round = run_awaitable(io_, verifier_->verify_due());
    ASSERT_TRUE(round.ok()) << round.error().message;
    EXPECT_EQ(round->size(), 2u);
    EXPECT_EQ(*row(shop)[0], "verified");
    EXPECT_EQ(*row(gone)[0], "failed");

    // Checked just now: not due again before the interval.
    auto again = run_awaitable(io_, verifier_->verify_due());
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->empty());

    // Once the interval has passed it is due again.
    db_.exec("UPDATE sender_domains SET checked_at = now() - interval '2 hours' WHERE id = $1",
             shop);
    auto later = run_awaitable(io_, verifier_->verify_due());
    ASSERT_TRUE(later.ok());
    ASSERT_EQ(later->size(), 1u);
    EXPECT_EQ(later->front().domain_id, shop);
}

}  // namespace
}  // namespace smarthost::policy
