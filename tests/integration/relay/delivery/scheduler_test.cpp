// The delivery scheduler on a real PostgreSQL, delivering to postfix's smtp-sink through
// the upstream route (an IP literal: no DNS): a claim loop that throws is counted in
// smarthost_task_failures_total{task="claim"}, started again, and still delivers.

#include "relay/delivery/scheduler.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <stdexcept>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/queue/group_commit.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs the I/O until `condition` holds or the deadline passes; says what was awaited.
testing::AssertionResult run_until(asio::io_context& io, const std::function<bool()>& condition,
                                   Clock::duration deadline, const char* awaited) {
    const auto until = Clock::now() + deadline;
    while (!condition() && Clock::now() < until) {
        io.restart();
        io.run_for(10ms);
    }
    if (condition()) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "still waiting for " << awaited;
}

double claim_failures() {
    return metrics::global().task_failures.Add({{"task", "claim"}}).Value();
}

class DeliverySchedulerTest : public ::testing::Test {
  protected:
    DeliverySchedulerTest() {
        DeliveryConfig config;
        config.upstream.host = "127.0.0.1";
        config.upstream.port = sink.port();
        config.upstream.tls = OutboundTls::none;
        config.tls = OutboundTls::none;
        config.allow_destination_networks = {"127.0.0.0/8"};
        config.poll_interval = 1s;
        config.shutdown_grace = 1s;
        service = std::make_unique<DeliveryService>(
            io.get_executor(), pool, committer, resolver,
            DeliveryService::Settings{"relay.test", db.url(), config});
    }

    ~DeliverySchedulerTest() override {
        bool stopped = false;
        service->stop([&] { stopped = true; });
        EXPECT_TRUE(run_until(
            io, [&] { return stopped; }, 10s, "the service to stop"));
        service.reset();
    }

    std::string enqueue(const std::string& recipient) {
        queue::NewMessage message;
        message.id = queue::new_message_id();
        message.account_id = account_id;
        message.client_ip = "192.0.2.10";
        message.envelope.sender = "sender@example.com";
        message.envelope.recipients.push_back(
            {recipient, recipient.substr(recipient.find('@') + 1), "", ""});
        message.body = "Subject: supervised\r\n\r\nstill delivered\r\n";
        std::string id = message.id;
        auto status = test::run_awaitable(io, committer.enqueue(std::move(message)));
        if (!status) throw std::runtime_error(status.error().message);
        return id;
    }

    std::string state_of(const std::string& message_id) {
        auto rows = db.exec("SELECT state FROM recipients WHERE message_id = $1::uuid", message_id);
        return rows.empty() ? "" : rows.at(0).at(0).value_or("");
    }

    test::TestDatabase db;
    test::SmtpSink sink;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 4, 5, 10}};
    queue::GroupCommitter committer{pool, queue::GroupCommitter::Settings{}};
    dns::Resolver resolver{io.get_executor(), dns::Resolver::Settings{}};
    std::int64_t account_id = db.create_account("customer");
    std::unique_ptr<DeliveryService> service;
};

TEST_F(DeliverySchedulerTest, ClaimLoopThatThrowsIsCountedRestartedAndStillDelivers) {
    const std::string id = enqueue("rcpt@dest.example");
    const double failures_before = claim_failures();
    int claims_tried = 0;
    service->set_before_claim([&] {
        if (claims_tried++ == 0) throw std::runtime_error("injected claim failure");
    });
    service->start();
    ASSERT_TRUE(run_until(
        io, [&] { return state_of(id) == "delivered"; }, 30s, "the recipient to be delivered"));
    EXPECT_EQ(claim_failures(), failures_before + 1);
    EXPECT_GE(claims_tried, 2);
    const auto dumps = sink.dumps();
    ASSERT_EQ(dumps.size(), 1u);
    EXPECT_NE(dumps[0].find("still delivered"), std::string::npos);
}

}  // namespace
}  // namespace smarthost::delivery
