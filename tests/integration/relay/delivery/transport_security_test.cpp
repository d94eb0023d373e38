// The per-domain TLS policies delivery reads (relay/delivery/transport_security) against a
// real PostgreSQL and a real DNS server (dnsmasq publishing _mta-sts records): the
// operator's policy wins and MTA-STS is then not looked up; the cached MTA-STS policy is
// used while current, kept when a refresh fails before it expires (RFC 8461 5.1), and
// dropped once expired. The policy host here refuses connections, so every fetch fails;
// the fetch that succeeds and is stored is tests/e2e/tls_policy_test.cpp's.

#include "relay/delivery/transport_security.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "relay/dns/address_policy.hpp"
#include "relay/dns/resolver.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::delivery {
namespace {

using namespace std::chrono_literals;
using test::DnsRecord;
using test::run_awaitable;

const std::chrono::system_clock::time_point k_now =
    std::chrono::sys_days{std::chrono::year{2031} / 3 / 15} + 12h;
constexpr const char* k_now_text = "2031-03-15 12:00:00+00";

class TransportSecurityTest : public ::testing::Test {
  protected:
    TransportSecurityTest()
        : pool_(io_.get_executor(), {db_.url(), 2, 5}),
          dns_({DnsRecord::txt("_mta-sts.cached.test", {"v=STSv1; id=current;"}),
                DnsRecord::address("mta-sts.cached.test", "127.0.0.1")},
               1s),
          resolver_(io_.get_executor(), resolver_settings(dns_)),
          address_policy_({"127.0.0.0/8"}) {
        TransportSecuritySettings settings;
        settings.fetch.port = test::free_tcp_port();  // nothing listens: every fetch fails
        settings.fetch.timeout = 2s;
        security_ = std::make_unique<TransportSecurity>(pool_, resolver_, address_policy_, settings,
                                                        [this] { return now_; });
    }

    static dns::Resolver::Settings resolver_settings(const test::Dnsmasq& dns) {
        dns::Resolver::Settings settings;
        settings.forwarders = {dns.forwarder()};
        settings.timeout = 1500ms;
        return settings;
    }

    // A cached enforce policy for cached.test with `id`, expiring `expires_in` after k_now.
    void cache(const std::string& id, const std::string& expires_in) {
        db_.exec(
            "INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, "
            "fetched_at, expires_at) VALUES ('cached.test', $1, 'enforce', "
            "'{mx.cached.test,*.backup.test}', 86400, $2::timestamptz - interval '1 hour', "
            "$2::timestamptz + $3::interval)",
            id, k_now_text, expires_in);
    }

    DomainSecurity secure(const std::string& domain) {
        auto result = run_awaitable(io_, security_->for_domain(domain, TlsPolicy::opportunistic));
        if (!result) throw std::runtime_error(result.error().message);
        return std::move(*result);
    }

    static double fetches(const char* result) {
        return metrics::global().mta_sts_policy_fetches.Add({{"result", result}}).Value();
    }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    test::Dnsmasq dns_;
    dns::Resolver resolver_;
    dns::AddressPolicy address_policy_;
    std::chrono::system_clock::time_point now_ = k_now;
    std::unique_ptr<TransportSecurity> security_;
};

TEST_F(TransportSecurityTest, ACurrentCachedPolicyWithTheTxtIdIsUsedWithoutAFetch) {
    cache("current", "1 hour");
    const double failed = fetches("failed");
    const auto domain = secure("cached.test");
    ASSERT_TRUE(domain.mta_sts);
    EXPECT_EQ(domain.mta_sts->mode, mta_sts::Mode::enforce);
    EXPECT_EQ(domain.mta_sts->mx, (std::vector<std::string>{"mx.cached.test", "*.backup.test"}));
    EXPECT_EQ(domain.mta_sts->max_age_seconds, 86400u);
    EXPECT_FALSE(domain.operator_policy);
    EXPECT_EQ(fetches("failed"), failed);
}

TEST_F(TransportSecurityTest, ANewTxtIdFetchesAndAFailureKeepsTheUnexpiredPolicy) {
    cache("previous", "1 hour");
    const double failed = fetches("failed");
    const auto domain = secure("cached.test");
    EXPECT_EQ(fetches("failed"), failed + 1);
    ASSERT_TRUE(domain.mta_sts);  // RFC 8461 5.1
    EXPECT_EQ(domain.mta_sts->mode, mta_sts::Mode::enforce);
    // The row is left as it was: a failed fetch stores nothing.
    EXPECT_EQ(*db_.exec("SELECT policy_id FROM mta_sts_policies").at(0).at(0), "previous");
    // Within a minute of the failure it is not fetched again.
    now_ += 30s;
    EXPECT_TRUE(secure("cached.test").mta_sts);
    EXPECT_EQ(fetches("failed"), failed + 1);
    now_ += 31s;
    EXPECT_TRUE(secure("cached.test").mta_sts);
    EXPECT_EQ(fetches("failed"), failed + 2);
}

TEST_F(TransportSecurityTest, AnExpiredPolicyIsNotUsedWhenItCannotBeRefreshed) {
    cache("current", "1 hour");
    now_ = k_now + 1h;  // expires_at itself: expired
    const double failed = fetches("failed");
    EXPECT_FALSE(secure("cached.test").mta_sts);
    EXPECT_EQ(fetches("failed"), failed + 1);
}

TEST_F(TransportSecurityTest, WithoutTxtRecordOnlyAnUnexpiredCachedPolicyApplies) {
    db_.exec(
        "INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, "
        "fetched_at, expires_at) VALUES ('quiet.test', 'x1', 'testing', '{mx.quiet.test}', "
        "60, $1::timestamptz, $1::timestamptz + interval '1 minute')",
        k_now_text);
    const auto domain = secure("quiet.test");
    ASSERT_TRUE(domain.mta_sts);
    EXPECT_EQ(domain.mta_sts->mode, mta_sts::Mode::testing);
    now_ = k_now + 1min;
    EXPECT_FALSE(secure("quiet.test").mta_sts);
    EXPECT_FALSE(secure("nothing.test").mta_sts);
}

TEST_F(TransportSecurityTest, TheOperatorPolicyWinsAndMtaStsIsNotLookedUp) {
    cache("previous", "1 hour");  // would be fetched again: the TXT id differs
    db_.exec("INSERT INTO tls_policies (domain, policy) VALUES ('cached.test', 'require')");
    const double failed = fetches("failed");
    const auto domain = secure("cached.test");
    EXPECT_EQ(domain.operator_policy, TlsPolicy::require);
    EXPECT_FALSE(domain.mta_sts);
    EXPECT_EQ(fetches("failed"), failed);
    EXPECT_EQ(decide_host_security(domain, "mx.elsewhere.test").tls, TlsPolicy::require);
}

}  // namespace
}  // namespace smarthost::delivery
