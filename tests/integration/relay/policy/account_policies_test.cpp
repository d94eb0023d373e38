// Account policies and suppressions from a real PostgreSQL: one query per account, the
// cache and its expiry, the suppression lookup, and the verdicts built on them.

#include "relay/policy/account_policies.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <set>
#include <thread>

#include "core/pg/pool.hpp"
#include "relay/policy/submission_policy.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::policy {
namespace {

using namespace std::chrono_literals;
using test::run_awaitable;

// A policy question about `address` at `stage`, first in its transaction.
smtp::PolicyQuery query(smtp::PolicyStage stage, std::string address) {
    smtp::PolicyQuery q;
    q.stage = stage;
    q.address = std::move(address);
    return q;
}

// Verification on, no account cache, suppressed recipients refused or bounced.
SubmissionPolicy::Settings uncached_settings(bool bounce_suppressed) {
    SubmissionPolicy::Settings settings;
    settings.sender_rules = {true};
    settings.account_cache_ttl = std::chrono::milliseconds(0);
    settings.bounce_suppressed = bounce_suppressed;
    return settings;
}

class AccountPoliciesTest : public ::testing::Test {
  protected:
    AccountPoliciesTest() : pool_(io_.get_executor(), {db_.url(), 2, 5}) {
        account_ = db_.create_account("shop");
        db_.add_sender_domain(account_, "shop.example");
        db_.add_sender_domain(account_, "brand.example", "pending", true);
    }

    std::shared_ptr<const AccountPolicy> load(AccountPolicies& policies, std::int64_t id) {
        auto policy = run_awaitable(io_, policies.get(id));
        EXPECT_TRUE(policy.ok()) << policy.error().message;
        return *policy;
    }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    std::int64_t account_ = 0;
};

TEST_F(AccountPoliciesTest, LoadsStatusAndDomainsInOneGo) {
    db_.exec("UPDATE accounts SET may_send_null_sender = true WHERE id = $1", account_);
    AccountPolicies policies(pool_, 0ms);
    const auto policy = load(policies, account_);
    EXPECT_TRUE(policy->exists);
    EXPECT_EQ(policy->name, "shop");
    EXPECT_FALSE(policy->suspended);
    EXPECT_TRUE(policy->may_send_null_sender);
    EXPECT_FALSE(policy->has_suppressions);
    ASSERT_EQ(policy->sender_domains.size(), 2u);
    bool saw_verified = false, saw_pending = false;
    for (const auto& d : policy->sender_domains) {
        if (d.domain == "shop.example") saw_verified = d.verified && !d.include_subdomains;
        if (d.domain == "brand.example") saw_pending = !d.verified && d.include_subdomains;
    }
    EXPECT_TRUE(saw_verified);
    EXPECT_TRUE(saw_pending);
}

TEST_F(AccountPoliciesTest, EachDomainCarriesOnlyItsOwnActiveDkimKeys) {
    const auto shop =
        *db_.exec("SELECT id FROM sender_domains WHERE domain = 'shop.example'").at(0).at(0);
    // A hostile account that lists the same domain (unverified: it cannot publish the
    // proof) and gives it a key of its own.
    const auto intruder = db_.create_account("intruder");
    const auto claimed = db_.add_sender_domain(intruder, "shop.example", "pending");
    const auto insert_key = [this](const std::string& domain_id, const std::string& selector,
                                   const std::string& state, const std::string& dns_status) {
        db_.exec(
            "INSERT INTO dkim_keys (sender_domain_id, selector, algorithm, key_bits, public_key, "
            "private_key_sealed, state, dns_status) VALUES ($1::bigint, $2, 'rsa-sha256', 2048, "
            "'MIIB', '\\x00010203'::bytea, $3, $4)",
            domain_id, selector, state, dns_status);
    };
    insert_key(shop, "active1", "active", "published");
    insert_key(shop, "new2", "created", "unchecked");
    insert_key(shop, "old0", "retired", "published");
    insert_key(std::to_string(claimed), "mine", "active", "published");

    AccountPolicies policies(pool_, 0ms);
    const auto policy = load(policies, account_);
    const auto& domains = policy->sender_domains;
    const auto it = std::find_if(domains.begin(), domains.end(),
                                 [](const auto& d) { return d.domain == "shop.example"; });
    ASSERT_NE(it, domains.end());
    ASSERT_EQ(it->dkim_keys.size(), 1u);
    EXPECT_EQ(it->dkim_keys[0].selector, "active1");
    EXPECT_TRUE(it->dkim_keys[0].published);
    EXPECT_EQ(it->dkim_keys[0].sealed, std::string("\x00\x01\x02\x03", 4));
    EXPECT_EQ(it->dkim_policy, DkimPolicy::verified);

    // The intruder sees its own key only, on a domain that is not verified: no signature
    // of its mail ever says d=shop.example.
    const auto hostile = load(policies, intruder);
    ASSERT_EQ(hostile->sender_domains.size(), 1u);
    EXPECT_FALSE(hostile->sender_domains[0].verified);
    ASSERT_EQ(hostile->sender_domains[0].dkim_keys.size(), 1u);
    EXPECT_EQ(hostile->sender_domains[0].dkim_keys[0].selector, "mine");

    // A domain whose policy is off loads no keys at all.
    db_.exec("UPDATE sender_domains SET dkim_policy = 'off' WHERE id = $1::bigint", shop);
    const auto off = load(policies, account_);
    for (const auto& domain : off->sender_domains)
        EXPECT_TRUE(domain.dkim_keys.empty());
}

// The active holds come with the policy, each counting the recipients waiting under it up
// to the bound; released holds are not there.
TEST_F(AccountPoliciesTest, ActiveHoldsComeWithTheirWaitingRecipientsCountedToTheBound) {
    const auto credential =
        db_.exec(
               "INSERT INTO credentials (account_id, username, secret_hash) VALUES ($1, 'wp', 'x') "
               "RETURNING id",
               account_)
            .at(0)
            .at(0);
    const auto on_credential =
        db_.exec(
               "INSERT INTO holds (account_id, credential_id, reason, evidence, created_by) "
               "VALUES ($1, $2, 'operator', '{}', 't') RETURNING id",
               account_, *credential)
            .at(0)
            .at(0);
    db_.exec(
        "INSERT INTO holds (account_id, sub_user, reason, evidence, created_by) "
        "VALUES ($1, 'blog1', 'operator', '{}', 't')",
        account_);
    db_.exec(
        "INSERT INTO holds (account_id, reason, evidence, created_by, released_at) "
        "VALUES ($1, 'operator', '{}', 't', now())",
        account_);
    db_.exec(
        "INSERT INTO messages (id, account_id, envelope_sender, client_ip, size_bytes) "
        "VALUES ('01a25000-0000-7000-8000-000000000001', $1, 'a@shop.example', '127.0.0.1', 1)",
        account_);
    db_.exec(
        "INSERT INTO recipients (message_id, address, domain, state, hold_id) "
        "SELECT '01a25000-0000-7000-8000-000000000001', 'r' || i || '@dest.example', "
        "'dest.example', 'held', $1::bigint FROM generate_series(1, 5) i",
        *on_credential);
    AccountPolicies policies(pool_, 0ms);
    policies.set_held_bound(3);
    const auto policy = load(policies, account_);
    ASSERT_EQ(policy->active_holds.size(), 2u);
    std::uint64_t credential_held = 99, sub_user_held = 99;
    for (const auto& hold : policy->active_holds) {
        if (hold.credential_id) {
            EXPECT_EQ(std::to_string(*hold.credential_id), *credential);
            EXPECT_EQ(hold.sub_user, "");
            credential_held = hold.held;
        } else {
            EXPECT_EQ(hold.sub_user, "blog1");
            sub_user_held = hold.held;
        }
    }
    EXPECT_EQ(credential_held, 3u);  // 5 wait: counted to the bound
    EXPECT_EQ(sub_user_held, 0u);
}

TEST_F(AccountPoliciesTest, AccountWithoutDomainsAndUnknownAccount) {
    const auto bare = db_.create_account("bare");
    AccountPolicies policies(pool_, 0ms);
    const auto policy = load(policies, bare);
    EXPECT_TRUE(policy->exists);
    EXPECT_TRUE(policy->sender_domains.empty());
    EXPECT_FALSE(load(policies, 999999)->exists);
}

TEST_F(AccountPoliciesTest, SuspensionIsSeenOnceTheCacheTimeHasPassed) {
    // Long enough that the UPDATE and the second load fit in it even on a loaded machine.
    AccountPolicies policies(pool_, 1000ms);
    EXPECT_FALSE(load(policies, account_)->suspended);
    db_.exec("UPDATE accounts SET status = 'suspended', suspended_reason = 'abuse' WHERE id = $1",
             account_);
    EXPECT_FALSE(load(policies, account_)->suspended);  // still cached
    std::this_thread::sleep_for(1100ms);
    const auto policy = load(policies, account_);
    EXPECT_TRUE(policy->suspended);
    EXPECT_EQ(policy->suspended_reason, "abuse");
}

TEST_F(AccountPoliciesTest, SuppressionLookupIsCaseInsensitiveAndPerAccount) {
    const auto other = db_.create_account("other");
    db_.exec("INSERT INTO suppressions (account_id, address) VALUES ($1, 'gone@example.org')",
             account_);
    AccountPolicies policies(pool_, 0ms);
    EXPECT_TRUE(load(policies, account_)->has_suppressions);
    EXPECT_FALSE(load(policies, other)->has_suppressions);
    auto found = run_awaitable(io_, policies.suppression(account_, "Gone@EXAMPLE.org"));
    ASSERT_TRUE(found.ok()) << found.error().message;
    EXPECT_EQ(*found, std::optional<std::string>("hard_bounce"));
    auto elsewhere = run_awaitable(io_, policies.suppression(other, "gone@example.org"));
    ASSERT_TRUE(elsewhere.ok());
    EXPECT_EQ(*elsewhere, std::nullopt);
}

// Issue 11 point 13: "bob"@example.org is the mailbox bob@example.org (RFC 5321 section
// 4.1.2); quoting it, or writing its domain as a U-label, must not get past a suppression.
TEST_F(AccountPoliciesTest, SuppressionLookupComparesCanonicalAddresses) {
    db_.exec(
        "INSERT INTO suppressions (account_id, address) VALUES ($1, 'bob@example.org'), "
        "($1, 'jörg@xn--bcher-kva.example')",
        account_);
    AccountPolicies policies(pool_, 0ms);
    for (const char* spelling : {"\"bob\"@example.org", "\"b\\ob\"@EXAMPLE.org",
                                 "jörg@bücher.example", "\"jörg\"@XN--BCHER-KVA.example"}) {
        auto found = run_awaitable(io_, policies.suppression(account_, spelling));
        ASSERT_TRUE(found.ok()) << found.error().message;
        EXPECT_EQ(*found, std::optional<std::string>("hard_bounce")) << spelling;
    }
    // Quotes that are needed keep the address distinct.
    auto other = run_awaitable(io_, policies.suppression(account_, "\"bob \"@example.org"));
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(*other, std::nullopt);
}

TEST_F(AccountPoliciesTest, SuppressionLookupUsesTheUniqueIndex) {
    // Enough rows that the planner would not pick an index scan by chance.
    db_.exec(
        "INSERT INTO suppressions (account_id, address) SELECT $1, 'u' || g || '@example.org' "
        "FROM generate_series(1, 5000) g",
        account_);
    db_.exec("ANALYZE suppressions");
    const auto plan = db_.exec(
        "EXPLAIN SELECT reason FROM suppressions WHERE account_id = $1 AND address = lower($2)",
        account_, "U7@example.org");
    std::string text;
    for (const auto& row : plan)
        text += *row[0] + "\n";
    EXPECT_NE(text.find("Index Scan using suppressions_account_id_address_key"), std::string::npos)
        << text;
}

TEST_F(AccountPoliciesTest, SubmissionPolicyRefusesSuppressedAndAcceptsOthers) {
    db_.exec("INSERT INTO suppressions (account_id, address) VALUES ($1, 'gone@example.org')",
             account_);
    SubmissionPolicy policy(pool_, uncached_settings(false));
    auto refused = run_awaitable(
        io_, policy.check(account_, query(smtp::PolicyStage::recipient, "gone@example.org"), ""));
    ASSERT_TRUE(refused.refused());
    EXPECT_EQ(refused.refusal->code, 550);
    EXPECT_EQ(refused.refusal->enhanced, "5.1.1");
    auto accepted = run_awaitable(
        io_, policy.check(account_, query(smtp::PolicyStage::recipient, "here@example.org"), ""));
    EXPECT_FALSE(accepted.refused());
    auto sender = run_awaitable(
        io_, policy.check(account_, query(smtp::PolicyStage::sender, "a@brand.example"), ""));
    ASSERT_TRUE(sender.refused());  // pending
    EXPECT_EQ(sender.refusal->code, 553);
}

TEST_F(AccountPoliciesTest, BounceModeAcceptsSuppressedRecipientsToBounceThem) {
    db_.exec("INSERT INTO suppressions (account_id, address) VALUES ($1, 'gone@example.org')",
             account_);
    SubmissionPolicy policy(pool_, uncached_settings(true));
    auto verdict = run_awaitable(
        io_, policy.check(account_, query(smtp::PolicyStage::recipient, "gone@example.org"), ""));
    EXPECT_FALSE(verdict.refused());
    ASSERT_TRUE(verdict.bounce.has_value());
    EXPECT_EQ(verdict.bounce->code, 550);
    EXPECT_EQ(verdict.bounce->enhanced, "5.1.1");
    auto other = run_awaitable(
        io_, policy.check(account_, query(smtp::PolicyStage::recipient, "here@example.org"), ""));
    EXPECT_FALSE(other.refused());
    EXPECT_FALSE(other.bounce.has_value());
}

TEST_F(AccountPoliciesTest, DatabaseFailureIsATemporaryRefusal) {
    pg::Pool unreachable(io_.get_executor(), {"postgresql://nobody@127.0.0.1:1/none", 1, 1});
    SubmissionPolicy policy(unreachable, uncached_settings(false));
    auto verdict = run_awaitable(
        io_, policy.check(account_, query(smtp::PolicyStage::sender, "a@shop.example"), ""));
    ASSERT_TRUE(verdict.refused());
    EXPECT_EQ(verdict.refusal->code, 451);
    EXPECT_EQ(verdict.refusal->enhanced, "4.3.0");
}

// `count` gets of each account at once, on one executor as sessions are.
std::vector<Result<std::shared_ptr<const AccountPolicy>>> concurrent_gets(
    boost::asio::io_context& io, AccountPolicies& policies, const std::vector<std::int64_t>& ids,
    int count) {
    std::vector<Result<std::shared_ptr<const AccountPolicy>>> results;
    for (const auto id : ids) {
        for (int i = 0; i < count; ++i) {
            boost::asio::co_spawn(
                io,
                [&policies, &results, id]() -> boost::asio::awaitable<void> {
                    auto policy = co_await policies.get(id);
                    results.push_back(std::move(policy));
                },
                boost::asio::detached);
        }
    }
    io.run();
    io.restart();
    return results;
}

TEST_F(AccountPoliciesTest, ConcurrentMissesOfOneAccountShareOneQuery) {
    const auto other = db_.create_account("other");
    AccountPolicies policies(pool_, 60s);
    const auto results = concurrent_gets(io_, policies, {account_, other}, 8);
    ASSERT_EQ(results.size(), 16u);
    EXPECT_EQ(policies.loads(), 2u);
    std::set<const AccountPolicy*> distinct;
    for (const auto& result : results) {
        ASSERT_TRUE(result.ok()) << result.error().message;
        EXPECT_TRUE((*result)->exists);
        distinct.insert(result->get());
    }
    EXPECT_EQ(distinct.size(), 2u);  // every caller of an account got the one loaded
    EXPECT_EQ(load(policies, account_)->name, "shop");  // and it is cached
    EXPECT_EQ(policies.loads(), 2u);
}

TEST_F(AccountPoliciesTest, WithoutACacheEveryCheckQueries) {
    AccountPolicies policies(pool_, 0ms);
    const auto results = concurrent_gets(io_, policies, {account_}, 5);
    ASSERT_EQ(results.size(), 5u);
    for (const auto& result : results)
        EXPECT_TRUE(result.ok());
    EXPECT_EQ(policies.loads(), 5u);
}

TEST_F(AccountPoliciesTest, ASharedQueryThatFailsFailsEveryCallerAndIsNotCached) {
    pg::Pool unreachable(io_.get_executor(), {"postgresql://nobody@127.0.0.1:1/none", 1, 1});
    AccountPolicies policies(unreachable, 60s);
    const auto results = concurrent_gets(io_, policies, {account_}, 4);
    ASSERT_EQ(results.size(), 4u);
    for (const auto& result : results) {
        ASSERT_FALSE(result.ok());
        EXPECT_TRUE(result.error().unavailable);
    }
    EXPECT_EQ(policies.loads(), 1u);
    EXPECT_FALSE(run_awaitable(io_, policies.get(account_)).ok());
    EXPECT_EQ(policies.loads(), 2u);  // the failure was not remembered
}

}  // namespace
}  // namespace smarthost::policy
