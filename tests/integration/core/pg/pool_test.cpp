#include "core/pg/pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <thread>

#include "tests/support/run_awaitable.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/unreachable_server.hpp"

namespace smarthost::pg {
namespace {

namespace asio = boost::asio;
using test::run_awaitable;
using test::TestDatabase;

class PoolTest : public ::testing::Test {
  protected:
    Pool make_pool(std::size_t size = 4) {
        return Pool(io.get_executor(), Pool::Settings{db.url(), size, 5, 10});
    }
    template <class T>
    T run(asio::awaitable<T> task) {
        return run_awaitable(io, std::move(task));
    }

    TestDatabase db;
    asio::io_context io;
};

TEST_F(PoolTest, QueryBindsParameters) {
    Pool pool = make_pool();
    auto rows = run(pool.query("SELECT $1::int + $2::bigint, $3::text, $4::bool", 2,
                               std::int64_t{3}, "it's \"quoted\"", true));
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->get_int(0, 0), 5);
    EXPECT_EQ(rows->get(0, 1), "it's \"quoted\"");
    EXPECT_TRUE(rows->get_bool(0, 2));
}

TEST_F(PoolTest, NullParametersAndNullResults) {
    Pool pool = make_pool();
    auto rows = run(pool.query("SELECT $1::text IS NULL, NULL::text, $2::text", null_param(),
                               std::optional<std::string>{}));
    ASSERT_TRUE(rows) << rows.error().message;
    EXPECT_TRUE(rows->get_bool(0, 0));
    EXPECT_TRUE(rows->is_null(0, 1));
    EXPECT_TRUE(rows->is_null(0, 2));
}

TEST_F(PoolTest, ByteaRoundTripsEveryByteValue) {
    Pool pool = make_pool();
    std::string all_bytes;
    for (int value = 0; value < 256; ++value)
        all_bytes += static_cast<char>(value);
    db.exec("CREATE TABLE blobs (id int PRIMARY KEY, data bytea NOT NULL)");
    auto inserted =
        run(pool.query("INSERT INTO blobs (id, data) VALUES (1, $1)", bytes(all_bytes)));
    ASSERT_TRUE(inserted) << inserted.error().message;
    EXPECT_EQ(inserted->affected(), 1u);

    auto rows = run(pool.query("SELECT data, length(data) FROM blobs WHERE id = 1"));
    ASSERT_TRUE(rows) << rows.error().message;
    EXPECT_EQ(rows->get(0, 0), "\\x" + test::to_hex(all_bytes));
    EXPECT_EQ(rows->get_int(0, 1), 256);
}

TEST_F(PoolTest, BinaryResultsGiveByteaAndTextAsTheirRawBytes) {
    Pool pool = make_pool();
    std::string all_bytes;
    for (int value = 0; value < 256; ++value)
        all_bytes += static_cast<char>(value);
    auto rows = run(pool.execute("SELECT $1::bytea, 'caf\xc3\xa9'::text, NULL::bytea",
                                 {bytes(all_bytes)}, ResultFormat::binary));
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->get(0, 0), all_bytes);
    EXPECT_EQ(rows->get(0, 1), "caf\xc3\xa9");
    EXPECT_TRUE(rows->is_null(0, 2));
}
TEST_F(PoolTest, ErrorCarriesSqlstateAndMessage) {
    Pool pool = make_pool();
    auto division = run(pool.query("SELECT 1 / $1::int", 0));
    ASSERT_FALSE(division);
    EXPECT_EQ(division.error().code, "22012");
    EXPECT_NE(division.error().message.find("division by zero"), std::string::npos);
    EXPECT_FALSE(division.error().unavailable);

    auto syntax = run(pool.query("SELEKT 1"));
    ASSERT_FALSE(syntax);
    EXPECT_EQ(syntax.error().code, "42601");

    auto after = run(pool.query("SELECT 7"));
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_EQ(after->get_int(0, 0), 7);
}

TEST_F(PoolTest, TransactionReturnsRowsOfEachStatement) {
    Pool pool = make_pool(1);
    db.exec("CREATE TABLE items (id int PRIMARY KEY, name text)");
    auto result = run(pool.transaction({
        {"INSERT INTO items VALUES ($1, $2)", {to_param(1), text("one")}},
        {"INSERT INTO items VALUES ($1, $2)", {to_param(2), null_param()}},
        {"SELECT count(*) FROM items", {}},
    }));
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_EQ(result->size(), 3u);
    EXPECT_EQ((*result)[0].affected(), 1u);
    EXPECT_EQ((*result)[2].get_int(0, 0), 2);
    EXPECT_EQ(db.exec("SELECT count(*) FROM items").at(0).at(0), "2");
}

// libpq builds a statement whole in its output buffer and never shrinks that buffer: a
// batch is pushed out as it is built, so the buffer stays near one statement's size, and
// a connection that carried a statement of more than 1 MiB is closed, not kept.
TEST_F(PoolTest, AConnectionThatCarriedALargeStatementIsClosedAndItsMemoryReturned) {
    Pool pool = make_pool(1);
    db.exec("CREATE TABLE blobs (id int PRIMARY KEY, data bytea)");
    const auto backend = [&] { return run(pool.query("SELECT pg_backend_pid()"))->get_int(0, 0); };
    const auto first = backend();

    // Forty statements of 100 KiB: 4 MiB in one transaction, none large.
    const std::string small(100 * 1024, 's');
    std::vector<Statement> batch;
    for (int id = 0; id < 40; ++id)
        batch.push_back({"INSERT INTO blobs VALUES ($1, $2)", {to_param(id), bytes(small)}});
    ASSERT_TRUE(run(pool.transaction(batch)));
    EXPECT_EQ(backend(), first);

    // One statement of 2 MiB: stored whole, then the connection is replaced.
    const std::string large(2 * 1024 * 1024, 'L');
    ASSERT_TRUE(run(pool.transaction({
        {"INSERT INTO blobs VALUES ($1, $2)", {to_param(100), borrowed_bytes(large)}},
    })));
    const auto second = backend();
    EXPECT_NE(second, first);
    EXPECT_EQ(db.exec("SELECT count(*), sum(length(data)) FROM blobs").at(0).at(1),
              std::to_string(40 * small.size() + large.size()));

    // Reading the 2 MiB row back keeps the new one.
    auto read =
        run(pool.execute("SELECT data FROM blobs WHERE id = 100", {}, ResultFormat::binary));
    ASSERT_TRUE(read);
    EXPECT_EQ(read->get(0, 0), large);
    EXPECT_EQ(backend(), second);
}

TEST_F(PoolTest, FailedTransactionLeavesNoRowsAndAUsableConnection) {
    Pool pool = make_pool(1);
    db.exec("CREATE TABLE items (id int PRIMARY KEY)");
    auto failed = run(pool.transaction({
        {"INSERT INTO items VALUES (1)", {}},
        {"INSERT INTO items VALUES (1)", {}},
        {"INSERT INTO items VALUES (2)", {}},
    }));
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, "23505");
    EXPECT_FALSE(failed.error().unavailable);
    EXPECT_EQ(db.exec("SELECT count(*) FROM items").at(0).at(0), "0");

    // The one connection is idle again, outside any transaction block.
    EXPECT_EQ(pool.idle(), 1u);
    auto status = run(pool.query("SELECT count(*) FROM items"));
    ASSERT_TRUE(status) << status.error().message;
    auto next = run(pool.transaction({{"INSERT INTO items VALUES (3)", {}}}));
    ASSERT_TRUE(next) << next.error().message;
    EXPECT_EQ(db.exec("SELECT id FROM items").at(0).at(0), "3");
}

TEST_F(PoolTest, ManyConcurrentQueriesShareAFewConnections) {
    constexpr std::size_t pool_size = 3;
    constexpr int queries = 60;
    Pool pool = make_pool(pool_size);
    int succeeded = 0;
    std::size_t most_backends = 0;
    for (int i = 0; i < queries; ++i) {
        asio::co_spawn(
            io,
            [&pool, &succeeded, &most_backends, i]() -> asio::awaitable<void> {
                auto rows = co_await pool.query(
                    "SELECT $1::int, pg_sleep(0.005), (SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'smarthost')",
                    i);
                if (rows && rows->get_int(0, 0) == i) ++succeeded;
                if (rows) {
                    most_backends = std::max<std::size_t>(most_backends, rows->get_int(0, 2));
                }
            },
            asio::detached);
    }
    io.run();
    EXPECT_EQ(succeeded, queries);
    EXPECT_LE(most_backends, pool_size);
    EXPECT_EQ(pool.idle(), pool_size);
}

TEST_F(PoolTest, RecoversAfterTheServerClosesItsConnections) {
    Pool pool = make_pool(2);
    ASSERT_TRUE(run(pool.query("SELECT 1")));
    // With a timeout, pg_terminate_backend waits until the process has exited, and so its
    // socket is closed; pg_stat_activity alone is cleared a moment earlier.
    db.exec(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (db.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid()")
               .at(0)
               .at(0) != "0") {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // The dead idle connection is noticed before use: no request fails.
    auto rows = run(pool.query("SELECT 2"));
    ASSERT_TRUE(rows) << rows.error().message;
    EXPECT_EQ(rows->get_int(0, 0), 2);
}

TEST_F(PoolTest, StatementDeadlineDiscardsTheConnection) {
    Pool pool(io.get_executor(), Pool::Settings{db.url(), 1, 5, 1});
    const auto start = std::chrono::steady_clock::now();
    auto slow = run(pool.query("SELECT pg_sleep(5)"));
    ASSERT_FALSE(slow);
    EXPECT_TRUE(slow.error().unavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    EXPECT_EQ(pool.idle(), 0u);
    auto next = run(pool.query("SELECT 5"));
    ASSERT_TRUE(next) << next.error().message;
    EXPECT_EQ(next->get_int(0, 0), 5);
}

TEST(PoolOutage, RefusedConnectionIsUnavailableAtOnce) {
    asio::io_context io;
    Pool pool(io.get_executor(), Pool::Settings{test::refused_url(), 2, 2, 2});
    const auto start = std::chrono::steady_clock::now();
    auto rows = run_awaitable(io, pool.query("SELECT 1"));
    ASSERT_FALSE(rows);
    EXPECT_TRUE(rows.error().unavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(PoolOutage, SilentServerHitsTheConnectDeadlineForEveryWaiter) {
    test::SilentServer server;
    asio::io_context io;
    Pool pool(io.get_executor(), Pool::Settings{server.url(), 2, 1, 2});
    int unavailable = 0;
    for (int i = 0; i < 10; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto rows = co_await pool.query("SELECT 1");
                if (!rows && rows.error().unavailable) ++unavailable;
            },
            asio::detached);
    }
    const auto start = std::chrono::steady_clock::now();
    io.run();
    EXPECT_EQ(unavailable, 10);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(PoolTest, FailsFastDuringAnOutageAndRecoversWhenTheServerIsBack) {
    test::TcpProxy proxy(db.url());
    Pool pool(io.get_executor(), Pool::Settings{proxy.url(), 2, 2, 3});
    ASSERT_TRUE(run(pool.query("SELECT 1")));

    proxy.stop();  // established connections cut, new ones refused
    const auto start = std::chrono::steady_clock::now();
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto rows = run(pool.query("SELECT 1"));
        ASSERT_FALSE(rows);
        EXPECT_TRUE(rows.error().unavailable) << rows.error().message;
        auto batch = run(pool.transaction({{"SELECT 1", {}}}));
        ASSERT_FALSE(batch);
        EXPECT_TRUE(batch.error().unavailable) << batch.error().message;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));

    proxy.start();
    auto rows = run(pool.query("SELECT 3"));
    ASSERT_TRUE(rows) << rows.error().message;
    EXPECT_EQ(rows->get_int(0, 0), 3);
    auto batch = run(pool.transaction({{"SELECT 4", {}}}));
    ASSERT_TRUE(batch) << batch.error().message;
}

}  // namespace
}  // namespace smarthost::pg
