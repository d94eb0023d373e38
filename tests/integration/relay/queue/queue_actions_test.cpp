#include "relay/queue/queue_actions.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/pg/pool.hpp"
#include "relay/queue/group_commit.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::queue {
namespace {

namespace asio = boost::asio;
using test::TestDatabase;

class QueueActionsTest : public ::testing::Test {
  protected:
    TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 2, 5, 10}};
    std::int64_t account_id = db.create_account("customer");

    std::string enqueue(const std::vector<std::string>& addresses) {
        NewMessage message;
        message.id = new_message_id();
        message.account_id = account_id;
        message.client_ip = "192.0.2.10";
        message.envelope.sender = "sender@example.com";
        for (const auto& address : addresses)
            message.envelope.recipients.push_back({address, "example.org", "", ""});
        message.body = "Subject: t\r\n\r\nhi\r\n";
        GroupCommitter committer(pool, GroupCommitter::Settings{});
        std::string id = message.id;
        Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
        if (!status) throw std::runtime_error(status.error().message);
        return id;
    }

    // The action's CTEs alone: rows of (changed, in flight); none for no such message.
    std::vector<TestDatabase::Row> act(RecipientAction action, const std::string& message_id) {
        return db.exec("WITH " + recipient_action_ctes(action, 1) +
                           " SELECT (SELECT count(*) FROM changed), in_flight.count"
                           " FROM message, in_flight",
                       message_id);
    }

    std::vector<std::string> column(const std::string& sql, const std::string& message_id) {
        std::vector<std::string> values;
        for (const auto& row : db.exec(sql, message_id))
            values.push_back(row.at(0).value_or("NULL"));
        return values;
    }
};

TEST_F(QueueActionsTest, HoldAndReleaseChangeStatesAndRecordEvents) {
    const auto id = enqueue({"a@example.org", "b@example.org", "c@example.org"});
    db.exec("UPDATE recipients SET state = 'in_flight' WHERE address = 'c@example.org'");
    db.exec(
        "UPDATE recipients SET state = 'deferred', attempts = 1 WHERE address = 'b@example.org'");
    const std::string states =
        "SELECT state FROM recipients WHERE message_id = $1::uuid ORDER BY address";
    const std::string events =
        "SELECT kind FROM events WHERE message_id = $1::uuid AND kind <> 'accepted' ORDER BY id";

    auto rows = act(RecipientAction::hold, id);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "2");
    EXPECT_EQ(rows[0][1], "1");
    EXPECT_EQ(column(states, id), (std::vector<std::string>{"held", "held", "in_flight"}));
    EXPECT_EQ(column(events, id), (std::vector<std::string>{"held", "held"}));

    rows = act(RecipientAction::release, id);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "2");
    EXPECT_EQ(column(states, id), (std::vector<std::string>{"queued", "deferred", "in_flight"}));
    EXPECT_EQ(column(events, id),
              (std::vector<std::string>{"held", "held", "released", "released"}));
}

TEST_F(QueueActionsTest, RetryRecordsNoEventAndCancelIsFinal) {
    const auto id = enqueue({"a@example.org"});
    db.exec("UPDATE recipients SET next_attempt_at = now() + interval '1 hour'");

    auto rows = act(RecipientAction::retry, id);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "1");
    EXPECT_EQ(
        column("SELECT next_attempt_at <= now() FROM recipients WHERE message_id = $1::uuid", id),
        std::vector<std::string>{"t"});

    EXPECT_EQ(act(RecipientAction::cancel, id).at(0)[0], "1");
    EXPECT_EQ(act(RecipientAction::retry, id).at(0)[0], "0");
    EXPECT_EQ(column("SELECT kind FROM events WHERE message_id = $1::uuid ORDER BY id", id),
              (std::vector<std::string>{"accepted", "cancelled"}));
}

TEST_F(QueueActionsTest, NoRowForAMessageThatDoesNotExist) {
    EXPECT_TRUE(act(RecipientAction::hold, new_message_id()).empty());
}

}  // namespace
}  // namespace smarthost::queue
