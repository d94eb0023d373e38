// The published-record check against a real DNS server (dnsmasq serving the key records
// as TXT character-strings of at most 255 octets) and a real PostgreSQL: published,
// mismatch, missing, an inconclusive answer changing nothing, and the periodic round.

#include "relay/dkim/key_check.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "core/pg/pool.hpp"
#include "relay/dkim/keys.hpp"
#include "relay/dns/resolver.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::dkim {
namespace {

using namespace std::chrono;
using test::DnsRecord;
using test::run_awaitable;

constexpr const char* k_kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const system_clock::time_point k_now = sys_days{2026y / November / 15} + 10h;

KeyVault vault() {
    auto made = KeyVault::from_base64(k_kek);
    if (!made) throw std::runtime_error(made.error().message);
    return std::move(*made);
}

// The TXT record that publishes `key`, split as a zone would hold it.
DnsRecord published(const StoredKey& key, const StoredKey& at) {
    return DnsRecord::txt(key_record_name(at.selector, at.domain),
                          character_strings(key_record_text(key.algorithm, key.public_key)));
}

class DkimKeyCheckTest : public ::testing::Test {
  protected:
    DkimKeyCheckTest() : pool_(io_.get_executor(), {db_.url(), 2, 5}), store_(pool_, vault_) {
        account_ = db_.create_account("shop");
    }

    StoredKey key_for(std::string_view domain, Algorithm algorithm = Algorithm::rsa_sha256) {
        NewKey request;
        request.domain_id = db_.add_sender_domain(account_, domain);
        request.algorithm = algorithm;
        auto outcome = run_awaitable(io_, store_.create(std::move(request), k_now, nullptr));
        EXPECT_TRUE(outcome.ok());
        return std::get<StoredKey>(*outcome);
    }

    void serve_dns(std::vector<DnsRecord> records) {
        checker_.reset();
        resolver_.reset();
        dns_ = std::make_unique<test::Dnsmasq>(std::move(records), 1s);
        dns::Resolver::Settings settings;
        settings.forwarders = {dns_->forwarder()};
        settings.timeout = 1500ms;
        resolver_ = std::make_unique<dns::Resolver>(io_.get_executor(), settings);
        checker_ = std::make_unique<KeyRecordChecker>(io_.get_executor(), pool_, *resolver_,
                                                      KeyRecordChecker::Settings{3600s, 100},
                                                      [this] { return now_; });
    }

    KeyCheck check(std::int64_t id) {
        auto result = run_awaitable(io_, checker_->check(id));
        EXPECT_TRUE(result.ok()) << result.error().message;
        EXPECT_TRUE(result->has_value());
        return **result;
    }

    test::TestDatabase::Row row(std::int64_t id) {
        return db_
            .exec(
                "SELECT dns_status, to_char(dns_checked_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD HH24:MI:SS') FROM dkim_keys WHERE id = $1",
                id)
            .at(0);
    }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    KeyVault vault_ = vault();
    KeyStore store_;
    std::int64_t account_ = 0;
    system_clock::time_point now_ = k_now;
    std::unique_ptr<test::Dnsmasq> dns_;
    std::unique_ptr<dns::Resolver> resolver_;
    std::unique_ptr<KeyRecordChecker> checker_;
};

TEST_F(DkimKeyCheckTest, ARecordCarryingTheKeyIsPublishedAnotherKeyIsAMismatchNoneIsMissing) {
    const auto rsa = key_for("published.test");
    const auto ed25519 = key_for("ed.test", Algorithm::ed25519_sha256);
    const auto other = key_for("mismatch.test");
    const auto absent = key_for("missing.test");
    // The RSA record is longer than 255 octets: several character-strings, joined again.
    ASSERT_GT(key_record_text(rsa.algorithm, rsa.public_key).size(), 255u);
    serve_dns({published(rsa, rsa), published(ed25519, ed25519), published(rsa, other),
               DnsRecord::txt("missing.test", {"v=spf1 -all"})});

    const auto found = check(rsa.id);
    EXPECT_TRUE(found.conclusive);
    EXPECT_EQ(found.status, DnsStatus::published);
    EXPECT_EQ(found.record_name, "sh2026q4._domainkey.published.test");
    EXPECT_EQ(row(rsa.id), (test::TestDatabase::Row{"published", "2026-11-15 10:00:00"}));
    EXPECT_EQ(check(ed25519.id).status, DnsStatus::published);

    EXPECT_EQ(check(other.id).status, DnsStatus::mismatch);
    EXPECT_EQ(*row(other.id).at(0), "mismatch");

    EXPECT_EQ(check(absent.id).status, DnsStatus::missing);
    EXPECT_EQ(*row(absent.id).at(0), "missing");
}

TEST_F(DkimKeyCheckTest, ARecordRemovedLaterTurnsPublishedIntoMissing) {
    const auto key = key_for("shop.test");
    serve_dns({published(key, key)});
    EXPECT_EQ(check(key.id).status, DnsStatus::published);
    serve_dns({DnsRecord::txt("shop.test", {"v=spf1 -all"})});
    EXPECT_EQ(check(key.id).status, DnsStatus::missing);
}

TEST_F(DkimKeyCheckTest, AnInconclusiveAnswerChangesNothing) {
    const auto key = key_for("shop.test");
    serve_dns({published(key, key)});
    EXPECT_EQ(check(key.id).status, DnsStatus::published);
    // A server that never answers: the resolver's deadline passes.
    serve_dns({DnsRecord::unanswered("shop.test")});
    now_ = k_now + 1h;
    const auto result = check(key.id);
    EXPECT_FALSE(result.conclusive);
    EXPECT_EQ(row(key.id), (test::TestDatabase::Row{"published", "2026-11-15 10:00:00"}));
}

TEST_F(DkimKeyCheckTest, ARoundClaimsKeysNotCheckedForTheIntervalAndSkipsRetiredOnes) {
    const auto first = key_for("one.test");
    const auto second = key_for("two.test");
    const auto retired = key_for("three.test");
    db_.exec("UPDATE dkim_keys SET state = 'retired' WHERE id = $1", retired.id);
    serve_dns({published(first, first)});

    auto round = run_awaitable(io_, checker_->check_due());
    ASSERT_TRUE(round.ok()) << round.error().message;
    ASSERT_EQ(round->size(), 2u);
    EXPECT_EQ(*row(first.id).at(0), "published");
    EXPECT_EQ(*row(second.id).at(0), "missing");
    EXPECT_EQ(*row(retired.id).at(0), "unchecked");

    now_ = k_now + 30min;  // within the interval: nothing is due
    round = run_awaitable(io_, checker_->check_due());
    ASSERT_TRUE(round.ok());
    EXPECT_TRUE(round->empty());

    now_ = k_now + 61min;
    round = run_awaitable(io_, checker_->check_due());
    ASSERT_TRUE(round.ok());
    EXPECT_EQ(round->size(), 2u);
}

TEST(DkimKeyRecordStatus, OnlyNxdomainAndNodataMeanMissingAndTroubleIsInconclusive) {
    const std::vector<std::string> none;
    EXPECT_EQ(status_after_lookup(dns::AnswerStatus::nxdomain, none, "AAAA"), DnsStatus::missing);
    EXPECT_EQ(status_after_lookup(dns::AnswerStatus::nodata, none, "AAAA"), DnsStatus::missing);
    EXPECT_EQ(status_after_lookup(dns::AnswerStatus::temporary, none, "AAAA"), std::nullopt);
    EXPECT_EQ(status_after_lookup(dns::AnswerStatus::timeout, none, "AAAA"), std::nullopt);
    const std::vector<std::string> revoked{"v=DKIM1; k=rsa; p="};
    EXPECT_EQ(status_after_lookup(dns::AnswerStatus::ok, revoked, "AAAA"), DnsStatus::mismatch);
    const std::vector<std::string> two{"v=DKIM1; p=BBBB", "v=DKIM1; p=AAAA"};
    EXPECT_EQ(status_after_lookup(dns::AnswerStatus::ok, two, "AAAA"), DnsStatus::published);
}

}  // namespace
}  // namespace smarthost::dkim
