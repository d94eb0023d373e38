// The domain health check against a real DNS server (dnsmasq with SPF, DMARC and DKIM
// key records) and a real PostgreSQL: the verdict for healthy and broken domains, what
// is stored in sender_domain_health, the periodic round and the problem gauges.

#include "relay/policy/domain_health_check.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "relay/dns/resolver.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::policy {
namespace {

using namespace std::chrono_literals;
using test::DnsRecord;
using test::run_awaitable;

constexpr const char* k_key = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
constexpr const char* k_other_key = "MCowBQYDK2VwAyEAoS8y2Jdt9XX4Pf1kCqKLIpLCwkGfHMt0m7rD/3v4Jk4=";
constexpr const char* k_relay_address = "192.0.2.25";

std::string key_record(const std::string& key) {
    return "v=DKIM1; k=ed25519; p=" + key;
}

// The records of a domain that does everything right.
std::vector<DnsRecord> healthy_records() {
    return {DnsRecord::txt("shop.test", {"v=spf1 include:_spf.host.test -all"}),
            DnsRecord::txt("_spf.host.test", {"v=spf1 ip4:192.0.2.0/24 ~all"}),
            DnsRecord::txt("_dmarc.shop.test", {"v=DMARC1; p=reject; rua=mailto:d@shop.test"}),
            DnsRecord::txt("sh2026q4._domainkey.shop.test", {key_record(k_key)})};
}

// `records` with those at `name` replaced by `replacement` (none: removed).
std::vector<DnsRecord> with(std::vector<DnsRecord> records, const std::string& name,
                            std::optional<DnsRecord> replacement) {
    std::erase_if(records, [&](const DnsRecord& record) { return record.name == name; });
    if (replacement) records.push_back(std::move(*replacement));
    return records;
}

class DomainHealthCheckTest : public ::testing::Test {
  protected:
    DomainHealthCheckTest() : pool_(io_.get_executor(), {db_.url(), 2, 5}) {
        account_ = db_.create_account("shop");
        domain_ = db_.add_sender_domain(account_, "shop.test");
    }

    void add_key(std::int64_t domain, const std::string& selector, const std::string& key,
                 const std::string& state = "active") {
        db_.exec(
            "INSERT INTO dkim_keys (sender_domain_id, selector, algorithm, key_bits, public_key, "
            "private_key_sealed, state) VALUES ($1, $2, 'ed25519-sha256', 256, $3, '\\x00', $4)",
            domain, selector, key, state);
    }

    // A DNS server with these records, and a checker asking it.
    void serve_dns(std::vector<DnsRecord> records, std::chrono::milliseconds timeout = 1500ms) {
        checker_.reset();
        resolver_.reset();
        dns_ = std::make_unique<test::Dnsmasq>(std::move(records), 1s);
        dns::Resolver::Settings settings;
        settings.forwarders = {dns_->forwarder()};
        settings.timeout = timeout;
        resolver_ = std::make_unique<dns::Resolver>(io_.get_executor(), settings);
        DomainHealthChecker::Settings checker_settings;
        checker_settings.relay.outbound_addresses.push_back(*Network::parse(k_relay_address));
        checker_settings.interval = 3600s;
        checker_settings.public_suffix_list = "";
        checker_settings.now = [this] { return now_; };
        checker_ = std::make_unique<DomainHealthChecker>(io_.get_executor(), pool_, *resolver_,
                                                         std::move(checker_settings));
    }

    DomainHealth check(std::int64_t id) {
        auto result = run_awaitable(io_, checker_->check(id));
        EXPECT_TRUE(result.ok()) << result.error().message;
        EXPECT_TRUE(result->has_value());
        return (*result)->health;
    }

    static std::vector<std::string> codes(const DomainHealth& health) {
        std::vector<std::string> out;
        for (const auto& finding : health.findings)
            out.push_back(finding.code);
        return out;
    }

    boost::json::object stored(std::int64_t id) {
        const auto rows =
            db_.exec("SELECT health FROM sender_domain_health WHERE sender_domain_id = $1", id);
        EXPECT_TRUE(rows.at(0)[0].has_value());
        return boost::json::parse(rows.at(0)[0].value_or("{}")).as_object();
    }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    std::int64_t account_ = 0;
    std::int64_t domain_ = 0;
    std::chrono::system_clock::time_point now_ = std::chrono::system_clock::now();
    std::unique_ptr<test::Dnsmasq> dns_;
    std::unique_ptr<dns::Resolver> resolver_;
    std::unique_ptr<DomainHealthChecker> checker_;
};

TEST_F(DomainHealthCheckTest, HealthyDomainIsStoredWithoutFindings) {
    add_key(domain_, "sh2026q4", k_key);
    serve_dns(healthy_records());
    const auto health = check(domain_);
    EXPECT_TRUE(health.findings.empty()) << health.findings.front().message;
    EXPECT_TRUE(health.dkim_aligned);
    EXPECT_TRUE(health.spf_aligned);
    EXPECT_TRUE(health.dmarc_pass);

    const auto document = stored(domain_);
    EXPECT_EQ(document.at("domain"), "shop.test");
    EXPECT_EQ(document.at("dmarc_pass"), true);
    EXPECT_TRUE(document.at("findings").as_array().empty());
    EXPECT_EQ(document.at("spf").at("result"), "pass");
    EXPECT_EQ(document.at("dmarc").at("policy"), "reject");
    const auto& key = document.at("dkim").at("keys").as_array().at(0);
    EXPECT_EQ(key.at("selector"), "sh2026q4");
    EXPECT_EQ(key.at("record"), "published");
    EXPECT_EQ(*db_.exec("SELECT checked_at > '-infinity' FROM sender_domain_health "
                        "WHERE sender_domain_id = $1",
                        domain_)
                   .at(0)[0],
              "t");
}

TEST_F(DomainHealthCheckTest, SpfMissing) {
    add_key(domain_, "sh2026q4", k_key);
    serve_dns(with(healthy_records(), "shop.test", DnsRecord::txt("shop.test", {"other=1"})));
    const auto health = check(domain_);
    EXPECT_EQ(codes(health), std::vector<std::string>{"spf_missing"});
    EXPECT_FALSE(health.spf_aligned);
    EXPECT_TRUE(health.dmarc_pass);
    EXPECT_EQ(stored(domain_).at("findings").as_array().at(0).at("code"), "spf_missing");
}

TEST_F(DomainHealthCheckTest, SpfNotAuthorizingTheRelay) {
    add_key(domain_, "sh2026q4", k_key);
    serve_dns(with(healthy_records(), "_spf.host.test",
                   DnsRecord::txt("_spf.host.test", {"v=spf1 ip4:198.51.100.0/24 -all"})));
    const auto health = check(domain_);
    EXPECT_EQ(codes(health), std::vector<std::string>{"spf_does_not_authorize_relay"});
    EXPECT_EQ(health.spf_result, SpfResult::fail);
    EXPECT_NE(health.findings[0].message.find("ip4:192.0.2.25"), std::string::npos);
}

TEST_F(DomainHealthCheckTest, SpfMxMechanismIsResolved) {
    add_key(domain_, "sh2026q4", k_key);
    auto records =
        with(healthy_records(), "shop.test", DnsRecord::txt("shop.test", {"v=spf1 mx -all"}));
    records.push_back(DnsRecord::mx("shop.test", 10, "mx.shop.test"));
    records.push_back(DnsRecord::address("mx.shop.test", k_relay_address));
    serve_dns(records);
    const auto health = check(domain_);
    EXPECT_TRUE(health.findings.empty()) << health.findings.front().message;
    EXPECT_TRUE(health.spf_aligned);
}

TEST_F(DomainHealthCheckTest, DmarcMissing) {
    add_key(domain_, "sh2026q4", k_key);
    serve_dns(with(healthy_records(), "_dmarc.shop.test", std::nullopt));
    const auto health = check(domain_);
    EXPECT_EQ(codes(health), std::vector<std::string>{"dmarc_missing"});
    EXPECT_EQ(health.findings[0].record, "_dmarc.shop.test");
    EXPECT_TRUE(health.dmarc_pass);  // what receivers without a policy would see anyway
}

TEST_F(DomainHealthCheckTest, DmarcRejectPassesOnAlignedDkimAlone) {
    add_key(domain_, "sh2026q4", k_key);
    serve_dns(with(healthy_records(), "shop.test",
                   DnsRecord::txt("shop.test", {"v=spf1 ip4:198.51.100.7 -all"})));
    const auto health = check(domain_);
    EXPECT_EQ(health.dmarc_policy, DmarcPolicy::reject);
    EXPECT_TRUE(health.dkim_aligned);
    EXPECT_FALSE(health.spf_aligned);
    EXPECT_TRUE(health.dmarc_pass);
    EXPECT_FALSE(health.has(health_code::dmarc_would_fail));
    EXPECT_EQ(stored(domain_).at("dkim_aligned"), true);
}

TEST_F(DomainHealthCheckTest, DkimRecordMismatch) {
    add_key(domain_, "sh2026q4", k_key);
    add_key(domain_, "old", k_other_key, "retired");  // retired keys are not checked
    serve_dns(with(healthy_records(), "sh2026q4._domainkey.shop.test",
                   DnsRecord::txt("sh2026q4._domainkey.shop.test", {key_record(k_other_key)})));
    const auto health = check(domain_);
    EXPECT_EQ(codes(health), std::vector<std::string>{"dkim_record_mismatch"});
    EXPECT_FALSE(health.dkim_aligned);
    EXPECT_TRUE(health.dmarc_pass);  // SPF still aligns
    ASSERT_EQ(health.keys.size(), 1u);
    EXPECT_EQ(stored(domain_).at("dkim").at("keys").as_array().at(0).at("record"), "mismatch");
}

TEST_F(DomainHealthCheckTest, NoKeyAndNoSpfWouldFailDmarc) {
    serve_dns(with(healthy_records(), "shop.test", std::nullopt));
    const auto health = check(domain_);
    EXPECT_EQ(codes(health),
              (std::vector<std::string>{"dkim_no_active_key", "spf_missing", "dmarc_would_fail"}));
}

TEST_F(DomainHealthCheckTest, UnansweredDnsIsReportedNotGuessed) {
    const auto id = db_.add_sender_domain(account_, "down.test");
    add_key(id, "sh2026q4", k_key);
    serve_dns({DnsRecord::unanswered("down.test")}, 500ms);
    const auto health = check(id);
    EXPECT_TRUE(health.has(health_code::dns_unavailable));
    EXPECT_FALSE(health.has(health_code::dmarc_would_fail));
    EXPECT_FALSE(health.has(health_code::spf_missing));
}

TEST_F(DomainHealthCheckTest, UnknownDomainIdIsNotFound) {
    serve_dns({});
    auto result = run_awaitable(io_, checker_->check(424242));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_FALSE(result->has_value());
}

TEST_F(DomainHealthCheckTest, PeriodicRoundChecksEachDueDomainOnceAndSetsTheGauges) {
    add_key(domain_, "sh2026q4", k_key);
    const auto bare = db_.add_sender_domain(account_, "bare.test");
    serve_dns(healthy_records());

    auto round = run_awaitable(io_, checker_->check_due());
    ASSERT_TRUE(round.ok()) << round.error().message;
    EXPECT_EQ(round->size(), 2u);
    EXPECT_TRUE(stored(bare).at("findings").as_array().size() > 0);

    // Checked just now: not due again before the interval.
    auto again = run_awaitable(io_, checker_->check_due());
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->empty());

    // The injected clock moves past the interval: due again.
    now_ += 2h;
    auto later = run_awaitable(io_, checker_->check_due());
    ASSERT_TRUE(later.ok());
    EXPECT_EQ(later->size(), 2u);

    auto refreshed = run_awaitable(io_, checker_->refresh_metrics());
    ASSERT_TRUE(refreshed.ok()) << refreshed.error().message;
    auto& gauges = metrics::global().sender_domain_health_problems;
    EXPECT_EQ(gauges.Add({{"code", "spf_missing"}}).Value(), 1.0);
    EXPECT_EQ(gauges.Add({{"code", "dkim_no_active_key"}}).Value(), 1.0);
    EXPECT_EQ(gauges.Add({{"code", "dkim_record_mismatch"}}).Value(), 0.0);
}

// A webhook endpoint of the account that wants domain.health_changed gets an event when
// the verdict changes, in the statement that stores it; not on the first check, nor when
// a check finds what the previous one found.
TEST_F(DomainHealthCheckTest, AChangedVerdictWritesADomainHealthChangedEvent) {
    db_.exec(
        "INSERT INTO webhook_endpoints (account_id, url, event_types, secret) "
        "VALUES ($1, 'https://panel.example/hook', '{domain.health_changed}', 'whsec_AAAA')",
        account_);
    add_key(domain_, "sh2026q4", k_key);
    serve_dns(healthy_records());
    check(domain_);
    check(domain_);
    const auto count = [&] { return *db_.exec("SELECT count(*) FROM webhook_events").at(0)[0]; };
    EXPECT_EQ(count(), "0");

    serve_dns(with(healthy_records(), "_dmarc.shop.test", std::nullopt));
    check(domain_);
    ASSERT_EQ(count(), "1");
    const auto rows = db_.exec(
        "SELECT kind, (payload->'account'->>'id')::bigint, payload->'data'->>'domain', "
        "payload->'data'->'problems' ? 'dmarc_missing', "
        "payload->'data'->'previous_problems' = '[]'::jsonb, "
        "(SELECT count(*) FROM webhook_deliveries) FROM webhook_events");
    EXPECT_EQ(rows.at(0)[0], "domain.health_changed");
    EXPECT_EQ(rows.at(0)[1], std::to_string(account_));
    EXPECT_EQ(rows.at(0)[2], "shop.test");
    EXPECT_EQ(rows.at(0)[3], "t");
    EXPECT_EQ(rows.at(0)[4], "t");
    EXPECT_EQ(rows.at(0)[5], "1");
    check(domain_);
    EXPECT_EQ(count(), "1");
}

}  // namespace
}  // namespace smarthost::policy
