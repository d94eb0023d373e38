// Rate limits against a real PostgreSQL: exact boundaries per window, and several
// limiters (standing for replicas, each with its own pool) taking from one limit at once.

#include "relay/policy/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>

#include "core/pg/pool.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class RateLimiterTest : public ::testing::Test {
  protected:
    test::TestDatabase db;
    asio::io_context io;
    std::int64_t account_id = db.create_account("customer");

    std::unique_ptr<pg::Pool> make_pool() {
        return std::make_unique<pg::Pool>(io.get_executor(),
                                          pg::Pool::Settings{db.url(), 2, 5, 10});
    }

    std::optional<LimitExceeded> acquire(RateLimiter& limiter, std::vector<LimitValue> limits,
                                         SystemTime now, std::uint64_t n = 1) {
        auto result = test::run_awaitable(io, limiter.acquire(account_id, limits, n, now));
        if (!result) throw std::runtime_error(result.error().message);
        return *result;
    }

    std::string leased(const std::string& limit) {
        auto rows =
            db.exec("SELECT coalesce(sum(leased), 0) FROM rate_usage WHERE limit_name = $1", limit);
        return *rows.at(0).at(0);
    }
};

// The tests' clock: every window and every cleanup cut-off comes from the time passed to
// acquire(), so these tests hold on any date the database's clock shows.
const SystemTime k_noon = SystemTime(std::chrono::seconds(1795608000));      // 2026-11-25T12:00:00Z
const SystemTime k_long_ago = SystemTime(std::chrono::seconds(1000000800));  // 2001-09-09T02:00Z
const SystemTime k_far_ahead = SystemTime(std::chrono::seconds(4102444800));  // 2100-01-01T00:00Z

TEST_F(RateLimiterTest, ExactlyTheLimitIsGrantedInAWindowAndTheNextWindowStartsAfresh) {
    auto pool = make_pool();
    RateLimiter limiter(*pool, RateLimiter::Settings{});
    const std::vector<LimitValue> limits{{RateLimit::messages_per_minute, 25}};
    for (int i = 0; i < 25; ++i)
        ASSERT_FALSE(acquire(limiter, limits, k_noon + 10s)) << "message " << i;
    const auto refused = acquire(limiter, limits, k_noon + 59s);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->limit, RateLimit::messages_per_minute);
    EXPECT_EQ(refused->value, 25u);
    EXPECT_EQ(refused->resets_at, k_noon + 60s);
    EXPECT_EQ(leased("messages_per_minute"), "25");
    EXPECT_FALSE(acquire(limiter, limits, k_noon + 60s));  // the window edge resets it
}

TEST_F(RateLimiterTest, ALimitWithoutRoomGivesBackWhatTheOthersTook) {
    auto pool = make_pool();
    RateLimiter limiter(*pool, RateLimiter::Settings{});
    const std::vector<LimitValue> limits{{RateLimit::messages_per_minute, 100},
                                         {RateLimit::messages_per_hour, 2},
                                         {RateLimit::messages_per_day, 0}};  // 0: no limit
    EXPECT_FALSE(acquire(limiter, limits, k_noon));
    EXPECT_FALSE(acquire(limiter, limits, k_noon));
    const std::uint64_t minute_units =
        limiter.held(account_id, RateLimit::messages_per_minute, k_noon);
    const auto refused = acquire(limiter, limits, k_noon);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->limit, RateLimit::messages_per_hour);
    EXPECT_EQ(refused->resets_at, k_noon + 1h);
    EXPECT_EQ(limiter.held(account_id, RateLimit::messages_per_minute, k_noon), minute_units);
    EXPECT_EQ(db.exec("SELECT count(*) FROM rate_usage WHERE limit_name = 'messages_per_day'")
                  .at(0)
                  .at(0),
              "0");
}

TEST_F(RateLimiterTest, RecipientsAreCountedInUnitsOfN) {
    auto pool = make_pool();
    RateLimiter limiter(*pool, RateLimiter::Settings{});
    const std::vector<LimitValue> limits{{RateLimit::recipients_per_hour, 10}};
    EXPECT_FALSE(acquire(limiter, limits, k_noon, 6));
    EXPECT_FALSE(acquire(limiter, limits, k_noon, 4));
    EXPECT_TRUE(acquire(limiter, limits, k_noon, 1));
}

TEST_F(RateLimiterTest, ThreeReplicasTogetherNeverGetMoreThanTheLimit) {
    constexpr std::uint64_t limit = 500;
    // Each worker asks until it is refused (a replica under steady load). A worker that
    // stopped while its replica still held leased units would strand them, so the
    // workers of a replica stop only once it holds none: the last one refused saw an
    // empty ledger and an exhausted row.
    constexpr int most_attempts_each = 1000;
    std::vector<std::unique_ptr<pg::Pool>> pools;
    std::vector<std::unique_ptr<RateLimiter>> limiters;
    for (int i = 0; i < 3; ++i) {
        pools.push_back(make_pool());
        limiters.push_back(std::make_unique<RateLimiter>(*pools.back(), RateLimiter::Settings{}));
    }
    const std::vector<LimitValue> limits{{RateLimit::messages_per_hour, limit}};
    std::vector<std::uint64_t> granted(limiters.size(), 0);
    int refused_workers = 0;
    for (std::size_t r = 0; r < limiters.size(); ++r) {
        for (int worker = 0; worker < 4; ++worker) {
            asio::co_spawn(
                io,
                [&, r, l = limiters[r].get()]() -> asio::awaitable<void> {
                    for (int i = 0; i < most_attempts_each; ++i) {
                        auto result = co_await l->acquire(account_id, limits, 1, k_noon);
                        if (!result) throw std::runtime_error(result.error().message);
                        if (result->has_value()) {
                            ++refused_workers;
                            co_return;
                        }
                        ++granted[r];
                    }
                },
                asio::detached);
        }
    }
    io.run();
    io.restart();
    ASSERT_EQ(refused_workers, 12);
    std::uint64_t total = 0;
    for (std::size_t r = 0; r < limiters.size(); ++r) {
        EXPECT_EQ(limiters[r]->held(account_id, RateLimit::messages_per_hour, k_noon), 0u)
            << "replica " << r;
        total += granted[r];
    }
    EXPECT_EQ(total, limit);
    EXPECT_EQ(leased("messages_per_hour"), std::to_string(limit));
}

// A limiter's first acquire() cleans up old rows. Before the cleanup took its cut-off from
// the caller's clock, a caller behind the database's clock deleted its own current window
// and the limit started again (issue 17: 984 granted of 500).
TEST_F(RateLimiterTest, ACallersCurrentWindowIsNeverCleanedUpWhateverTheDatabaseClockSays) {
    constexpr std::uint64_t limit = 10;
    const std::vector<LimitValue> limits{{RateLimit::messages_per_hour, limit}};
    auto pool = make_pool();
    RateLimiter first(*pool, RateLimiter::Settings{});
    ASSERT_FALSE(acquire(first, limits, k_long_ago));
    const auto leased_by_first = leased("messages_per_hour");
    ASSERT_NE(leased_by_first, "0");

    std::uint64_t granted = 1;
    RateLimiter second(*pool, RateLimiter::Settings{});  // cleans up on its first call
    while (!acquire(second, limits, k_long_ago))
        ++granted;
    while (!acquire(first, limits, k_long_ago))
        ++granted;
    EXPECT_EQ(granted, limit);
    EXPECT_EQ(leased("messages_per_hour"), std::to_string(limit));
}

TEST_F(RateLimiterTest, RowsOlderThanTheRetentionOnTheCallersClockAreCleanedUp) {
    const std::vector<LimitValue> limits{{RateLimit::messages_per_hour, 10}};
    const auto window_starts = [&] {
        std::vector<std::string> starts;
        for (const auto& row :
             db.exec("SELECT extract(epoch FROM window_start)::bigint FROM rate_usage "
                     "ORDER BY window_start"))
            starts.push_back(*row.at(0));
        return starts;
    };
    const auto seconds = [](SystemTime t) {
        return std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
    };
    auto pool = make_pool();
    RateLimiter old_window(*pool, RateLimiter::Settings{});
    ASSERT_FALSE(acquire(old_window, limits, k_far_ahead));

    // Exactly the retention later: the row may still be needed, it stays.
    const SystemTime at_the_edge = k_far_ahead + k_rate_usage_retention;
    RateLimiter edge(*pool, RateLimiter::Settings{});
    ASSERT_FALSE(acquire(edge, limits, at_the_edge));
    EXPECT_EQ(window_starts(),
              (std::vector<std::string>{seconds(k_far_ahead), seconds(at_the_edge)}));

    // One window later the first row is gone; the database's own clock plays no part
    // (it is decades behind this caller's).
    const SystemTime past_the_edge = at_the_edge + 1h;
    RateLimiter later(*pool, RateLimiter::Settings{});
    ASSERT_FALSE(acquire(later, limits, past_the_edge));
    EXPECT_EQ(window_starts(),
              (std::vector<std::string>{seconds(at_the_edge), seconds(past_the_edge)}));
}

// Credential and sub-user limits (docs/policy.md "Credential limits", "Sub-users").
std::vector<ScopedLimits> scoped(const std::string& scope, RateLimit limit, std::uint64_t value,
                                 std::uint64_t max_scopes = 0) {
    std::vector<ScopedLimits> scopes(1);
    scopes.front().scope = scope;
    scopes.front().limits.emplace_back(limit, value);
    scopes.front().max_scopes = max_scopes;
    return scopes;
}

TEST_F(RateLimiterTest, TheAccountsAndTheCredentialsLimitsMustBothHaveRoom) {
    auto pool = make_pool();
    RateLimiter limiter(*pool, RateLimiter::Settings{});
    auto both = scoped("", RateLimit::messages_per_hour, 100);
    both.push_back(scoped("credential:7", RateLimit::messages_per_hour, 3).front());
    for (int i = 0; i < 3; ++i)
        ASSERT_FALSE(test::run_awaitable(io, limiter.acquire(account_id, both, 1, k_noon)).value());
    const auto refused = test::run_awaitable(io, limiter.acquire(account_id, both, 1, k_noon));
    ASSERT_TRUE(refused && *refused);
    EXPECT_EQ((*refused)->scope, "credential:7");
    EXPECT_EQ((*refused)->value, 3u);
    EXPECT_FALSE((*refused)->too_many_scopes);
    // The account's unit taken for the refused message was given back.
    const auto account_held = limiter.held(account_id, RateLimit::messages_per_hour, k_noon);
    const auto other = scoped("credential:8", RateLimit::messages_per_hour, 3);
    auto with_other = scoped("", RateLimit::messages_per_hour, 100);
    with_other.push_back(other.front());
    EXPECT_FALSE(
        test::run_awaitable(io, limiter.acquire(account_id, with_other, 1, k_noon)).value());
    EXPECT_EQ(limiter.held(account_id, RateLimit::messages_per_hour, k_noon), account_held - 1);
    EXPECT_EQ(*db.exec("SELECT leased FROM rate_usage WHERE scope = 'credential:7'").at(0).at(0),
              "3");
}

TEST_F(RateLimiterTest, ASubUsersLimitHoldsAcrossTwoReplicas) {
    constexpr std::uint64_t limit = 40;
    auto first_pool = make_pool();
    auto second_pool = make_pool();
    RateLimiter first(*first_pool, RateLimiter::Settings{});
    RateLimiter second(*second_pool, RateLimiter::Settings{});
    const auto blog = scoped("sub_user:blog1", RateLimit::messages_per_day, limit, 1000);
    const auto shop = scoped("sub_user:shop2", RateLimit::messages_per_day, limit, 1000);
    std::uint64_t granted = 0;
    // The two replicas alternate until both are refused.
    for (int i = 0; i < 200; ++i) {
        auto& limiter = i % 2 == 0 ? first : second;
        const auto result = test::run_awaitable(io, limiter.acquire(account_id, blog, 1, k_noon));
        ASSERT_TRUE(result);
        if (!*result) ++granted;
    }
    EXPECT_EQ(granted, limit);
    // Another sub-user of the same account has its own quota.
    EXPECT_FALSE(test::run_awaitable(io, second.acquire(account_id, shop, 1, k_noon)).value());
    EXPECT_EQ(*db.exec("SELECT leased FROM rate_usage WHERE scope = 'sub_user:blog1'").at(0).at(0),
              std::to_string(limit));
}

TEST_F(RateLimiterTest, DistinctSubUsersPerWindowAreBoundedButKnownOnesGoOn) {
    auto pool = make_pool();
    RateLimiter limiter(*pool, RateLimiter::Settings{});
    const auto sub_user = [&](const std::string& name) {
        return test::run_awaitable(
            io, limiter.acquire(account_id,
                                scoped("sub_user:" + name, RateLimit::messages_per_hour, 1000, 2),
                                1, k_noon));
    };
    EXPECT_FALSE(sub_user("a").value());
    EXPECT_FALSE(sub_user("b").value());
    const auto third = sub_user("c");
    ASSERT_TRUE(third && *third);
    EXPECT_TRUE((*third)->too_many_scopes);
    EXPECT_EQ((*third)->value, 2u);
    EXPECT_EQ((*third)->scope, "sub_user:c");
    EXPECT_FALSE(sub_user("a").value());
    // Credentials are not sub-users: they do not count towards the bound.
    EXPECT_FALSE(
        test::run_awaitable(
            io, limiter.acquire(account_id, scoped("credential:1", RateLimit::messages_per_hour, 5),
                                1, k_noon))
            .value());
    EXPECT_EQ(*db.exec("SELECT count(*) FROM rate_usage WHERE starts_with(scope, 'sub_user:')")
                   .at(0)
                   .at(0),
              "2");
    // The next window starts with none.
    EXPECT_FALSE(
        test::run_awaitable(
            io,
            limiter.acquire(account_id, scoped("sub_user:c", RateLimit::messages_per_hour, 1000, 2),
                            1, k_noon + 1h))
            .value());
}

}  // namespace
}  // namespace smarthost::policy
