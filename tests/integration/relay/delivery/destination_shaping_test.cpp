// Destination shaping against a real PostgreSQL: two instances with their own pools stand
// for two replicas sharing one group's quota and one group's push-back state.

#include "relay/delivery/destination_shaping.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>

#include "core/config.hpp"
#include "core/pg/pool.hpp"
#include "relay/dns/resolver.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using policy::RateLimit;

// The tests' clock: every window comes from the time passed in, whatever the database's.
const SystemTime k_noon = SystemTime(std::chrono::seconds(1795608000));  // 2026-11-25T12:00Z

class DestinationShapingTest : public ::testing::Test {
  protected:
    test::TestDatabase db;
    asio::io_context io;

    std::unique_ptr<pg::Pool> make_pool() {
        return std::make_unique<pg::Pool>(io.get_executor(),
                                          pg::Pool::Settings{db.url(), 2, 5, 10});
    }

    RateGrant take(DestinationLeases& leases, GroupRates rates, std::size_t wanted,
                   SystemTime now) {
        auto grant = test::run_awaitable(io, leases.take("isp", rates, wanted, now));
        if (!grant) throw std::runtime_error(grant.error().message);
        return *grant;
    }

    std::int64_t leased(const std::string& limit) {
        return std::stoll(
            *db.exec("SELECT coalesce(sum(leased), 0) FROM destination_usage "
                     "WHERE limit_name = $1",
                     limit)[0][0]);
    }
};

TEST_F(DestinationShapingTest, TwoReplicasNeverSendMoreThanTheLimitInAWindow) {
    auto pool_a = make_pool();
    auto pool_b = make_pool();
    DestinationLeases a(*pool_a, 10);
    DestinationLeases b(*pool_b, 10);
    const GroupRates rates{25, 0};
    std::size_t sent = 0;
    // Alternating batches of 1 to 4 messages until both are refused.
    for (int round = 0; round < 40; ++round) {
        const std::size_t wanted = 1 + round % 4;
        const auto grant = take(round % 2 == 0 ? a : b, rates, wanted, k_noon + 1s * round);
        EXPECT_LE(grant.granted, wanted);
        if (grant.granted < wanted) {
            EXPECT_EQ(grant.retry_at, k_noon + 60s);
        }
        sent += grant.granted;
    }
    // Quota one replica leased and did not use is stranded, never given twice: at most the
    // limit, and here (every replica asks until refused) exactly it.
    EXPECT_EQ(sent + a.held("isp", RateLimit::messages_per_minute, k_noon + 39s) +
                  b.held("isp", RateLimit::messages_per_minute, k_noon + 39s),
              25u);
    EXPECT_EQ(leased("messages_per_minute"), 25);
    // The next window starts afresh.
    EXPECT_EQ(take(a, rates, 5, k_noon + 60s).granted, 5u);
}

TEST_F(DestinationShapingTest, TheHourLimitHoldsAcrossMinutesAndSaysWhenItResets) {
    auto pool = make_pool();
    DestinationLeases leases(*pool);
    const GroupRates rates{10, 15};
    EXPECT_EQ(take(leases, rates, 10, k_noon).granted, 10u);
    const auto refused = take(leases, rates, 10, k_noon + 10s);
    EXPECT_EQ(refused.granted, 0u);
    EXPECT_EQ(refused.retry_at, k_noon + 60s);  // the minute's quota ran out
    const auto partly = take(leases, rates, 10, k_noon + 61s);
    EXPECT_EQ(partly.granted, 5u);  // what the hour has left
    EXPECT_EQ(partly.retry_at, k_noon + 1h);
    EXPECT_EQ(leased("messages_per_hour"), 15);
}

TEST_F(DestinationShapingTest, APushBackIsSharedByEveryReplicaAndHalvesOnce) {
    auto pool_a = make_pool();
    auto pool_b = make_pool();
    dns::Resolver resolver(io.get_executor(), dns::Resolver::Settings{});
    DeliveryConfig config;
    config.shaping.state_refresh = 5s;
    DestinationShaping a(*pool_a, resolver, config);
    DestinationShaping b(*pool_b, resolver, config);
    const auto& gmail = *a.groups().find("gmail");

    // B reads the state before A's push-back: its copy is stale, as in a real replica.
    auto admitted = test::run_awaitable(io, b.admit(gmail, 3, k_noon));
    EXPECT_EQ(admitted.allowed, 3u);

    const auto until =
        test::run_awaitable(io, a.push_back(gmail, "421 4.7.28 Our system has detected", k_noon));
    EXPECT_EQ(until, k_noon + 120s);
    // B's own push-back a moment later, from a connection opened before: the same episode.
    const auto same = test::run_awaitable(io, b.push_back(gmail, "421 4.7.28 again", k_noon + 1s));
    EXPECT_EQ(same, k_noon + 120s);
    const auto row = db.exec(
        "SELECT throttle, backoffs, extract(epoch FROM backoff_until)::bigint, last_reply "
        "FROM destination_backoff WHERE group_name = 'gmail'");
    ASSERT_EQ(row.size(), 1u);
    EXPECT_EQ(*row[0][0], "0.5");
    EXPECT_EQ(*row[0][1], "1");
    EXPECT_EQ(*row[0][2], "1795608120");
    EXPECT_EQ(*row[0][3], "421 4.7.28 Our system has detected");

    // Once B refreshes, it holds the group's mail back until then.
    const auto held = test::run_awaitable(io, b.admit(gmail, 4, k_noon + 6s));
    EXPECT_EQ(held.allowed, 0u);
    EXPECT_EQ(held.reason, HoldReason::backoff);
    EXPECT_EQ(held.retry_at, k_noon + 120s);
    // After it, the group's connections are halved (10 → 5) until the throttle recovers.
    EXPECT_EQ(b.max_connections(gmail, k_noon + 121s), 5u);
    EXPECT_EQ(test::run_awaitable(io, b.admit(gmail, 4, k_noon + 121s)).allowed, 4u);
}

}  // namespace
}  // namespace smarthost::delivery
