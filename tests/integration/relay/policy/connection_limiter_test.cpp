// Per-account connection limits against a real PostgreSQL: limiters standing for
// replicas (each with its own pool) publish their counts and see each other's; stale
// replicas are ignored and purged; refusals are recorded; stop() withdraws the rows.

#include "relay/policy/connection_limiter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>

#include "core/pg/pool.hpp"
#include "relay/policy/rejection_log.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// One replica: its pool, its rejection log, its limiter.
struct Replica {
    Replica(asio::io_context& io, const std::string& url)
        : pool(io.get_executor(), pg::Pool::Settings{url, 2, 5, 10}),
          rejections(io.get_executor(), pool),
          limiter(io.get_executor(), pool, rejections, ConnectionLimiter::Settings{200ms}) {}
    pg::Pool pool;
    RejectionLog rejections;
    ConnectionLimiter limiter;
};

class ConnectionLimiterTest : public ::testing::Test {
  protected:
    test::TestDatabase db;
    asio::io_context io;
    std::int64_t account_id = db.create_account("customer");

    std::unique_ptr<Replica> replica() { return std::make_unique<Replica>(io, db.url()); }

    void publish(Replica& r) {
        auto published = test::run_awaitable(io, r.limiter.publish());
        ASSERT_TRUE(published) << published.error().message;
    }

    std::string scalar(const std::string& sql) { return db.exec(sql).at(0).at(0).value_or("NULL"); }
};

TEST_F(ConnectionLimiterTest, ReplicasTogetherAdmitNoMoreThanTheLimitOncePublished) {
    auto a = replica();
    auto b = replica();
    auto first = a->limiter.admit(account_id, "customer", 2);
    ASSERT_TRUE(first);
    publish(*a);
    publish(*b);
    EXPECT_EQ(b->limiter.counts().elsewhere(account_id), 1u);
    auto second = b->limiter.admit(account_id, "customer", 2);
    ASSERT_TRUE(second);
    EXPECT_FALSE(b->limiter.admit(account_id, "customer", 2));
    publish(*b);
    publish(*a);
    EXPECT_FALSE(a->limiter.admit(account_id, "customer", 2));

    first.reset();  // the session on a ends
    publish(*a);
    publish(*b);
    EXPECT_EQ(b->limiter.counts().elsewhere(account_id), 0u);
    EXPECT_TRUE(b->limiter.admit(account_id, "customer", 2));
}

TEST_F(ConnectionLimiterTest, PublicationStoresOnlyNonZeroCountsOfThisReplica) {
    auto a = replica();
    auto slot = a->limiter.admit(account_id, "customer", 5);
    auto unlimited = a->limiter.admit(account_id + 1, "other", 0);
    ASSERT_TRUE(slot && unlimited);
    publish(*a);
    EXPECT_EQ(scalar("SELECT string_agg(replica || ':' || account_id || '=' || sessions, ',') "
                     "FROM connection_counts"),
              a->limiter.replica() + ":" + std::to_string(account_id) + "=1");
    slot.reset();
    publish(*a);
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_counts"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_replicas"), "1");
}

TEST_F(ConnectionLimiterTest, AStaleReplicaIsIgnoredAndPurged) {
    db.exec(
        "INSERT INTO connection_replicas (replica, heartbeat_at) "
        "VALUES ('00000000-0000-4000-8000-000000000001', now() - interval '1 hour')");
    db.exec(
        "INSERT INTO connection_counts (replica, account_id, sessions) "
        "VALUES ('00000000-0000-4000-8000-000000000001', $1, 5)",
        account_id);
    auto a = replica();
    publish(*a);
    EXPECT_EQ(a->limiter.counts().elsewhere(account_id), 0u);
    EXPECT_TRUE(a->limiter.admit(account_id, "customer", 1));
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_counts WHERE sessions = 5"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_replicas"), "1");
}

TEST_F(ConnectionLimiterTest, RowsLostByTheDatabaseArePublishedAgainInFull) {
    auto a = replica();
    auto slot = a->limiter.admit(account_id, "customer", 5);
    publish(*a);
    // Another replica purged this one as stale (a long stall): its counts went too.
    db.exec("DELETE FROM connection_replicas");
    publish(*a);  // notices it was inserted afresh
    publish(*a);  // publishes everything again
    EXPECT_EQ(scalar("SELECT sessions FROM connection_counts"), "1");
}

TEST_F(ConnectionLimiterTest, ARefusalIsRecordedAsMaxConnections) {
    auto a = replica();
    auto slot = a->limiter.admit(account_id, "customer", 1);
    ASSERT_TRUE(slot);
    EXPECT_FALSE(a->limiter.admit(account_id, "customer", 1));
    io.restart();
    io.run();  // the insert runs detached
    EXPECT_EQ(scalar("SELECT account_id || ':' || reason FROM rejections"),
              std::to_string(account_id) + ":max_connections");
}

TEST_F(ConnectionLimiterTest, StopWithdrawsThisReplicasRows) {
    auto a = replica();
    auto b = replica();
    auto slot = a->limiter.admit(account_id, "customer", 5);
    auto other = b->limiter.admit(account_id, "customer", 5);
    publish(*a);
    publish(*b);
    bool stopped = false;
    a->limiter.stop([&stopped] { stopped = true; });
    io.restart();
    io.run();
    EXPECT_TRUE(stopped);
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_replicas"), "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_counts"), "1");
    publish(*b);
    EXPECT_EQ(b->limiter.counts().elsewhere(account_id), 0u);
}

TEST_F(ConnectionLimiterTest, PeriodicPublicationReachesTheOtherReplica) {
    auto a = replica();
    auto b = replica();
    auto slot = a->limiter.admit(account_id, "customer", 2);
    a->limiter.start();
    b->limiter.start();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (b->limiter.counts().elsewhere(account_id) != 1 &&
           std::chrono::steady_clock::now() < deadline)
        io.run_for(50ms);
    EXPECT_EQ(b->limiter.counts().elsewhere(account_id), 1u);
    int stopped = 0;
    a->limiter.stop([&stopped] { ++stopped; });
    b->limiter.stop([&stopped] { ++stopped; });
    io.restart();
    io.run();
    EXPECT_EQ(stopped, 2);
    EXPECT_EQ(scalar("SELECT count(*) FROM connection_replicas"), "0");
}

}  // namespace
}  // namespace smarthost::policy
