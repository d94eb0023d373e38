// /readyz's facts read from the real PostgreSQL: the schema version and the server's fsync
// setting (issue 11 point 19). fsync is a server-wide setting (postgresql.conf, SIGHUP),
// so the shared test server cannot be switched to off here; the verdict on "off" is the
// unit test's (tests/unit/core/metrics_test.cpp).

#include "core/metrics/readiness.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>
#include <string>

#include "core/pg/migrations.hpp"
#include "core/pg/pool.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::metrics {
namespace {

namespace asio = boost::asio;
using test::TestDatabase;

const ReadinessCheck& check_named(const Readiness& readiness, const std::string& name) {
    for (const auto& check : readiness.checks)
        if (check.name == name) return check;
    throw std::runtime_error("no check named " + name);
}

TEST(ReadinessAgainstPostgres, ReadsTheServersFsyncSetting) {
    TestDatabase db;
    const auto fsync = db.exec("SHOW fsync").at(0).at(0);
    ASSERT_EQ(fsync, "on") << "the test server must run with fsync on";
    asio::io_context io;
    pg::Pool pool(io.get_executor(), pg::Pool::Settings{db.url(), 1, 5, 10});
    const auto readiness = test::run_awaitable(io, check_readiness(pool));
    EXPECT_TRUE(check_named(readiness, "migrations").ok) << readiness.json();
    const auto& durability = check_named(readiness, "durability");
    EXPECT_TRUE(durability.ok) << readiness.json();
    EXPECT_EQ(durability.detail, "fsync is on");
}

TEST(ReadinessAgainstPostgres, ReadsFsyncBeforeTheFirstMigrationToo) {
    TestDatabase db(TestDatabase::Schema::empty);
    asio::io_context io;
    pg::Pool pool(io.get_executor(), pg::Pool::Settings{db.url(), 1, 5, 10});
    const auto readiness = test::run_awaitable(io, check_readiness(pool));
    EXPECT_TRUE(check_named(readiness, "database").ok) << readiness.json();
    EXPECT_FALSE(check_named(readiness, "migrations").ok);
    EXPECT_EQ(check_named(readiness, "durability").detail, "fsync is on");
}

}  // namespace
}  // namespace smarthost::metrics
