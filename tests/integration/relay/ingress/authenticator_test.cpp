// The Authenticator against a real PostgreSQL: the bound on logins in flight (issue 11
// point 6), the bounded database look-ups, and whether a session's login still holds once
// its credential is disabled, rotated or deleted (point 7).

#include "relay/ingress/authenticator.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>

#include "core/crypto.hpp"
#include "core/pg/pool.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::ingress {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class AuthenticatorTest : public ::testing::Test {
  protected:
    void SetUp() override {
        crypto::init();
        account_id = db.create_account("shop");
        credential_id =
            std::stoll(*db.exec("INSERT INTO credentials (account_id, username, secret_hash) "
                                "VALUES ($1, 'app@shop.example', $2) RETURNING id",
                                account_id, crypto::hash_password("right password"))
                            .at(0)
                            .at(0));
    }

    std::unique_ptr<Authenticator> make(Authenticator::Settings settings) {
        return std::make_unique<Authenticator>(pool, hashers, settings);
    }

    AuthVerdict verify(Authenticator& authenticator, std::string username, std::string password) {
        return test::run_awaitable(io,
                                   authenticator.verify(std::move(username), std::move(password)));
    }

    void run_for(std::chrono::milliseconds duration) {
        io.restart();
        io.run_for(duration);
    }

    bool still_valid(Authenticator& authenticator, const Identity& identity) {
        return test::run_awaitable(io, authenticator.still_valid(identity));
    }

    test::TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 2, 5, 10}};
    asio::thread_pool hashers{1};
    std::int64_t account_id = 0;
    std::int64_t credential_id = 0;
};

// Unauthenticated clients choose how many logins run: past max_pending the next one is
// refused at once (454 4.7.0), not queued behind the argon2id workers.
TEST_F(AuthenticatorTest, ALoginPastMaxPendingIsRefusedAtOnce) {
    auto authenticator = make({std::chrono::seconds(0), 1, 4, 1s});
    // Hold the only hashing thread, so the first login waits in the middle of verify().
    // Released on every way out of the test, so the pool's threads can be joined.
    struct Gate {
        std::promise<void> opened;
        bool open = false;
        void release() {
            if (!std::exchange(open, true)) opened.set_value();
        }
        ~Gate() { release(); }
    } gate;
    asio::post(hashers, [held = gate.opened.get_future().share()] { held.wait(); });

    std::optional<AuthVerdict> first;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            first = co_await authenticator->verify("app@shop.example", "right password");
        },
        asio::detached);
    // Counted as pending from its call; its look-up done, it waits for the held thread.
    run_for(200ms);
    ASSERT_FALSE(first);

    std::optional<AuthVerdict> second;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            second = co_await authenticator->verify("app@shop.example", "right password");
        },
        asio::detached);
    run_for(200ms);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->outcome, smtp::AuthOutcome::temporary_failure);
    EXPECT_TRUE(second->overloaded);

    gate.release();
    for (int i = 0; i < 200 && !first; ++i)
        run_for(50ms);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->outcome, smtp::AuthOutcome::success);
    EXPECT_FALSE(first->overloaded);
    // The slot is free again.
    EXPECT_EQ(verify(*authenticator, "app@shop.example", "right password").outcome,
              smtp::AuthOutcome::success);
}

// Many logins at once through one look-up slot: each waits its turn, none is lost.
TEST_F(AuthenticatorTest, LookUpsBeyondTheirBoundWaitTheirTurn) {
    auto authenticator = make({std::chrono::seconds(300), 64, 1, 1s});
    std::vector<smtp::AuthOutcome> outcomes;
    for (int i = 0; i < 6; ++i) {
        asio::co_spawn(
            io,
            [&, i]() -> asio::awaitable<void> {
                auto verdict = co_await authenticator->verify(
                    i % 2 ? "app@shop.example" : "nobody@shop.example", "right password");
                outcomes.push_back(verdict.outcome);
            },
            asio::detached);
    }
    for (int i = 0; i < 600 && outcomes.size() < 6; ++i)
        run_for(50ms);
    ASSERT_EQ(outcomes.size(), 6u);
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), smtp::AuthOutcome::success), 3);
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), smtp::AuthOutcome::invalid_credentials),
              3);
}

TEST_F(AuthenticatorTest, ALoginStopsHoldingOnceItsCredentialIsDisabledRotatedOrDeleted) {
    auto authenticator = make({std::chrono::seconds(300), 64, 4, 0ms});  // no state cache
    const auto verdict = verify(*authenticator, "app@shop.example", "right password");
    ASSERT_EQ(verdict.outcome, smtp::AuthOutcome::success);
    const Identity identity = verdict.identity;
    EXPECT_TRUE(still_valid(*authenticator, identity));

    db.exec("UPDATE credentials SET enabled = false WHERE id = $1", credential_id);
    EXPECT_FALSE(still_valid(*authenticator, identity));
    db.exec("UPDATE credentials SET enabled = true WHERE id = $1", credential_id);
    EXPECT_TRUE(still_valid(*authenticator, identity));

    db.exec("UPDATE credentials SET secret_hash = $2 WHERE id = $1", credential_id,
            crypto::hash_password("rotated password"));
    EXPECT_FALSE(still_valid(*authenticator, identity));

    const auto again = verify(*authenticator, "app@shop.example", "rotated password");
    ASSERT_EQ(again.outcome, smtp::AuthOutcome::success);
    EXPECT_TRUE(still_valid(*authenticator, again.identity));
    db.exec("DELETE FROM credentials WHERE id = $1", credential_id);
    EXPECT_FALSE(still_valid(*authenticator, again.identity));

    Identity network;  // an allow-listed network's session has no credential to lose
    network.account_id = account_id;
    EXPECT_TRUE(still_valid(*authenticator, network));
}

// The state is read again only after state_ttl (the account policy's cache time).
TEST_F(AuthenticatorTest, ALoginsStateIsRememberedForItsTtl) {
    auto authenticator = make({std::chrono::seconds(300), 64, 4, 1h});
    const auto verdict = verify(*authenticator, "app@shop.example", "right password");
    ASSERT_EQ(verdict.outcome, smtp::AuthOutcome::success);
    db.exec("UPDATE credentials SET enabled = false WHERE id = $1", credential_id);
    EXPECT_TRUE(still_valid(*authenticator, verdict.identity));
}

}  // namespace
}  // namespace smarthost::ingress
