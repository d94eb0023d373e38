// One report per message across domain batches (relay/delivery/pending_reports), against
// real PostgreSQL: claims, settlements and reports as the delivery role makes them.
#include "relay/delivery/pending_reports.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>

#include "core/pg/pool.hpp"
#include "relay/delivery/bounce_reports.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/group_commit.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using queue::AttemptResult;
using test::TestDatabase;

class PendingReportsTest : public ::testing::Test {
  protected:
    TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 4, 5, 10}};
    std::int64_t account_id = db.create_account("customer");
    queue::RetrySchedule schedule{queue::RetryPolicy{}, [] { return 0.5; }};
    queue::Claims claims{pool};
    PendingReports reports{pool, settings()};
    const TimePoint now = std::chrono::system_clock::now();

    static PendingReports::Settings settings() {
        PendingReports::Settings s;
        s.dsn.reporting_host = "relay.example.net";
        return s;
    }

    std::string enqueue(const std::vector<std::string>& addresses) {
        queue::NewMessage message;
        message.id = queue::new_message_id();
        message.account_id = account_id;
        message.client_ip = "192.0.2.10";
        message.envelope.sender = "owner@shop.example";
        for (const auto& address : addresses)
            message.envelope.recipients.push_back(
                {address, address.substr(address.find('@') + 1), "", ""});
        message.body = "Subject: order 42\r\n\r\nhi\r\n";
        queue::GroupCommitter committer(pool, queue::GroupCommitter::Settings{});
        std::string id = message.id;
        const Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
        if (!status) throw std::runtime_error(status.error().message);
        return id;
    }

    // Every recipient of `batch` refused with 550, recorded as the delivery role does.
    void record_refusals(const queue::DomainBatch& batch) {
        std::vector<AttemptResult> results;
        for (const auto& message : batch.messages)
            for (const auto& recipient : message.recipients) {
                AttemptResult result;
                result.message = &message;
                result.recipient = &recipient;
                result.verdict = queue::Verdict::permanent;
                result.reply = smtp::Reply{550, "5.1.1", {"No such user"}};
                result.remote = true;
                result.peer.host = "mx." + batch.domain;
                results.push_back(result);
            }
        auto settlements = queue::settle(results, schedule, now);
        auto queued = bounce_reports(settings().dsn, results, settlements, now);
        auto recorded = test::run_awaitable(
            io, claims.record("worker", results, std::move(settlements), std::move(queued)));
        ASSERT_TRUE(recorded) << recorded.error().message;
    }

    bool send_if_complete(const std::string& id) {
        auto sent = test::run_awaitable(io, reports.send_if_complete(id, now));
        if (!sent) throw std::runtime_error(sent.error().message);
        return *sent;
    }

    std::int64_t reports_queued() {
        return std::stoll(
            *db.exec("SELECT count(*) FROM messages WHERE envelope_sender = ''").at(0).at(0));
    }

    std::string report_body() {
        return *db.exec("SELECT encode(body, 'escape') FROM messages WHERE envelope_sender = ''")
                    .at(0)
                    .at(0);
    }
};

TEST_F(PendingReportsTest, TwoDomainBatchesOfOneMessageGetOneReport) {
    const auto id = enqueue({"a@one.example", "b@two.example", "c@one.example"});
    auto claimed = test::run_awaitable(io, claims.claim("worker", 60s, 100, 100, 1 << 30));
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->domains.size(), 2u);
    for (const auto& batch : claimed->domains)
        EXPECT_TRUE(batch.messages.at(0).other_domains);

    record_refusals(claimed->domains[0]);  // one.example: the other batch is still in flight
    EXPECT_FALSE(send_if_complete(id));
    EXPECT_EQ(reports_queued(), 0);
    EXPECT_EQ(
        *db.exec("SELECT count(*) FROM recipients WHERE pending_report IS NOT NULL").at(0).at(0),
        "2");

    record_refusals(claimed->domains[1]);  // two.example: the last one
    EXPECT_TRUE(send_if_complete(id));
    ASSERT_EQ(reports_queued(), 1);
    const auto body = report_body();
    for (const char* address : {"a@one.example", "b@two.example", "c@one.example"})
        EXPECT_NE(body.find(std::string("Final-Recipient: rfc822;") + address), std::string::npos)
            << body;
    EXPECT_NE(body.find("Remote-MTA: dns; mx.two.example"), std::string::npos) << body;
    EXPECT_NE(body.find("Subject: order 42"), std::string::npos) << body;
    EXPECT_EQ(
        *db.exec("SELECT count(*) FROM recipients WHERE pending_report IS NOT NULL").at(0).at(0),
        "0");

    EXPECT_TRUE(send_if_complete(id));  // nothing left: no second report
    EXPECT_EQ(reports_queued(), 1);
}

TEST_F(PendingReportsTest, RacingSendersQueueTheReportOnce) {
    const auto id = enqueue({"a@one.example", "b@two.example"});
    auto claimed = test::run_awaitable(io, claims.claim("worker", 60s, 100, 100, 1 << 30));
    ASSERT_TRUE(claimed);
    for (const auto& batch : claimed->domains)
        record_refusals(batch);
    // Both batches' workers finish at once and each sees the other's lines.
    bool first = false;
    bool second = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto sent = co_await reports.send_if_complete(id, now);
            first = sent && *sent;
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto sent = co_await reports.send_if_complete(id, now);
            second = sent && *sent;
        },
        asio::detached);
    io.restart();
    io.run();
    EXPECT_TRUE(first || second);
    EXPECT_EQ(reports_queued(), 1);
}

TEST_F(PendingReportsTest, SweepSendsLinesThatWaitedTooLong) {
    enqueue({"a@one.example", "b@two.example"});
    auto claimed = test::run_awaitable(io, claims.claim("worker", 60s, 100, 100, 1 << 30));
    ASSERT_TRUE(claimed);
    record_refusals(claimed->domains[0]);  // two.example stays in flight (a crashed worker)
    auto early = test::run_awaitable(io, reports.sweep(now));
    ASSERT_TRUE(early);
    EXPECT_EQ(*early, 0u);
    db.exec(
        "UPDATE recipients SET updated_at = updated_at - interval '5 minutes' "
        "WHERE pending_report IS NOT NULL");
    auto late = test::run_awaitable(io, reports.sweep(now));
    ASSERT_TRUE(late);
    EXPECT_EQ(*late, 1u);
    ASSERT_EQ(reports_queued(), 1);
    EXPECT_NE(report_body().find("Final-Recipient: rfc822;a@one.example"), std::string::npos);
}

}  // namespace
}  // namespace smarthost::delivery
