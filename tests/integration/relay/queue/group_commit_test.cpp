#include "relay/queue/group_commit.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>

#include "core/pg/pool.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/unreachable_server.hpp"

namespace smarthost::queue {
namespace {

namespace asio = boost::asio;
using test::TestDatabase;

NewMessage make_message(std::int64_t account_id, std::string body) {
    NewMessage message;
    message.id = new_message_id();
    message.account_id = account_id;
    message.client_ip = "192.0.2.10";
    message.client_helo = "client.example";
    message.envelope.sender = "sender@example.com";
    message.envelope.recipients.push_back({"rcpt@example.org", "example.org", "", ""});
    message.body = std::move(body);
    return message;
}

class GroupCommitTest : public ::testing::Test {
  protected:
    TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 4, 5, 10}};
    std::int64_t account_id = db.create_account("customer");
};

TEST(MessageId, IsAVersion7UuidInLowerCaseHex) {
    std::set<std::string> seen;
    std::string previous;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = new_message_id();
        ASSERT_EQ(id.size(), 32u);
        EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
        EXPECT_EQ(id[12], '7') << id;
        EXPECT_NE(std::string("89ab").find(id[16]), std::string::npos) << id;
        EXPECT_GE(id.substr(0, 12), previous.substr(0, std::min<std::size_t>(12, previous.size())));
        previous = id;
        seen.insert(id);
    }
    EXPECT_EQ(seen.size(), 1000u);
}

TEST_F(GroupCommitTest, ConcurrentEnqueuesShareTransactions) {
    constexpr int messages = 200;
    GroupCommitter committer(pool, GroupCommitter::Settings{});
    int committed = 0;
    for (int i = 0; i < messages; ++i) {
        auto message = make_message(account_id, "Subject: " + std::to_string(i) + "\r\n\r\nhi\r\n");
        message.envelope.recipients.push_back(
            {"second" + std::to_string(i) + "@example.net", "example.net", "NEVER", ""});
        asio::co_spawn(
            io,
            [&committer, &committed,
             message = std::move(message)]() mutable -> asio::awaitable<void> {
                Status status = co_await committer.enqueue(std::move(message));
                if (status) ++committed;
            },
            asio::detached);
    }
    io.run();
    EXPECT_EQ(committed, messages);
    EXPECT_EQ(committer.messages_committed(), static_cast<std::uint64_t>(messages));
    EXPECT_LT(committer.batches_committed(), static_cast<std::uint64_t>(messages));
    EXPECT_GT(committer.batches_committed(), 0u);
    EXPECT_EQ(db.exec("SELECT count(*) FROM messages").at(0).at(0), "200");
    EXPECT_EQ(db.exec("SELECT count(*) FROM recipients WHERE state = 'queued'").at(0).at(0), "400");
    EXPECT_EQ(db.exec("SELECT count(*) FROM events WHERE kind = 'accepted'").at(0).at(0), "200");
}

TEST_F(GroupCommitTest, StoresTheMessageExactly) {
    GroupCommitter committer(pool, GroupCommitter::Settings{});
    std::string body = "Received: from client.example\r\nSubject: caf\xc3\xa9\r\n\r\n";
    for (int value = 1; value < 256; ++value)
        body += static_cast<char>(value);
    body += "\r\n" + std::string(20000, 'x') + "\r\n.\r\nlast line\r\n";

    NewMessage message = make_message(account_id, body);
    message.tls_version = "TLSv1.3";
    message.header_message_id = "<abc@client.example>";
    message.envelope.body = smtp::BodyType::eight_bit_mime;
    message.envelope.ret = smtp::DsnReturn::headers;
    message.envelope.envid = "env-1";
    message.envelope.recipients = {
        {"plain@example.org", "example.org", "SUCCESS,FAILURE", "rfc822;plain@example.org"},
        {"\"a,b\\\"c}{\"@Example.NET", "example.net", "", ""},
    };
    const std::string id = message.id;
    Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
    ASSERT_TRUE(status) << status.error().message;

    auto stored = db.exec(
        "SELECT encode(body, 'hex'), size_bytes, envelope_sender, host(client_ip), client_helo, "
        "tls_version, body_8bitmime, dsn_ret, dsn_envid, header_message_id, credential_id, "
        "account_id FROM messages WHERE id = $1",
        id);
    ASSERT_EQ(stored.size(), 1u);
    const auto& row = stored[0];
    EXPECT_EQ(row[0], test::to_hex(body));
    EXPECT_EQ(row[1], std::to_string(body.size()));
    EXPECT_EQ(row[2], "sender@example.com");
    EXPECT_EQ(row[3], "192.0.2.10");
    EXPECT_EQ(row[4], "client.example");
    EXPECT_EQ(row[5], "TLSv1.3");
    EXPECT_EQ(row[6], "t");
    EXPECT_EQ(row[7], "HDRS");
    EXPECT_EQ(row[8], "env-1");
    EXPECT_EQ(row[9], "<abc@client.example>");
    EXPECT_EQ(row[10], std::nullopt);
    EXPECT_EQ(row[11], std::to_string(account_id));

    auto recipients = db.exec(
        "SELECT address, domain, dsn_notify, dsn_orcpt, state FROM recipients "
        "WHERE message_id = $1 ORDER BY id",
        id);
    ASSERT_EQ(recipients.size(), 2u);
    EXPECT_EQ(recipients[0][0], "plain@example.org");
    EXPECT_EQ(recipients[0][1], "example.org");
    EXPECT_EQ(recipients[0][2], "SUCCESS,FAILURE");
    EXPECT_EQ(recipients[0][3], "rfc822;plain@example.org");
    EXPECT_EQ(recipients[0][4], "queued");
    EXPECT_EQ(recipients[1][0], "\"a,b\\\"c}{\"@Example.NET");
    EXPECT_EQ(recipients[1][1], "example.net");
    EXPECT_EQ(recipients[1][2], std::nullopt);
    EXPECT_EQ(recipients[1][3], std::nullopt);

    auto events = db.exec(
        "SELECT kind, host(remote_ip), tls_version, recipient_id FROM events "
        "WHERE message_id = $1",
        id);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0][0], "accepted");
    EXPECT_EQ(events[0][1], "192.0.2.10");
    EXPECT_EQ(events[0][2], "TLSv1.3");
    EXPECT_EQ(events[0][3], std::nullopt);
}

TEST_F(GroupCommitTest, RecipientsBouncedByPolicyAreStoredFinalWithAnEvent) {
    GroupCommitter committer(pool, {});
    NewMessage message = make_message(account_id, "Subject: x\r\n\r\nbody\r\n");
    message.envelope.bounced.push_back(
        {{"Gone@example.net", "example.net", "FAILURE", "rfc822;gone@example.net"},
         "550 5.1.1 Recipient <Gone@example.net> is suppressed for this account"});
    const std::string id = message.id;
    Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
    ASSERT_TRUE(status) << status.error().message;

    auto recipients = db.exec(
        "SELECT address, state, last_reply, dsn_notify, dsn_orcpt FROM recipients "
        "WHERE message_id = $1 ORDER BY state = 'bounced', id",
        id);
    ASSERT_EQ(recipients.size(), 2u);
    EXPECT_EQ(recipients[0][0], "rcpt@example.org");
    EXPECT_EQ(recipients[0][1], "queued");
    EXPECT_EQ(recipients[0][2], std::nullopt);
    EXPECT_EQ(recipients[1][0], "Gone@example.net");
    EXPECT_EQ(recipients[1][1], "bounced");
    EXPECT_EQ(recipients[1][2],
              "550 5.1.1 Recipient <Gone@example.net> is suppressed for this account");
    EXPECT_EQ(recipients[1][3], "FAILURE");
    EXPECT_EQ(recipients[1][4], "rfc822;gone@example.net");
    auto events = db.exec(
        "SELECT kind, reply, recipient_id IS NOT NULL FROM events WHERE message_id = $1 "
        "ORDER BY kind",
        id);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0][0], "accepted");
    EXPECT_EQ(events[1][0], "bounced");
    EXPECT_EQ(events[1][1], *recipients[1][2]);
    EXPECT_EQ(events[1][2], "t");
}

TEST_F(GroupCommitTest, AReportIsStoredInTheTransactionOfItsMessage) {
    GroupCommitter committer(pool, {});
    NewMessage message = make_message(account_id, "Subject: x\r\n\r\nbody\r\n");
    NewMessage report = make_message(account_id, "Subject: report\r\n\r\nbounced\r\n");
    report.envelope.sender.clear();
    message.reports.push_back(report);
    Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
    ASSERT_TRUE(status) << status.error().message;
    auto stored = db.exec("SELECT envelope_sender FROM messages ORDER BY envelope_sender");
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(stored[0][0], "");
    EXPECT_EQ(stored[1][0], "sender@example.com");

    // Neither without the other: a report that cannot be stored takes its message along
    // (the client then gets a failure reply and nothing was accepted).
    NewMessage second = make_message(account_id, "second\r\n");
    NewMessage broken = make_message(account_id + 1000, "report\r\n");
    second.reports.push_back(broken);
    const std::string second_id = second.id;
    Status refused = test::run_awaitable(io, committer.enqueue(std::move(second)));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, "23503");
    EXPECT_EQ(
        db.exec("SELECT count(*) FROM messages WHERE replace(id::text, '-', '') = $1", second_id)
            .at(0)
            .at(0),
        "0");
    EXPECT_EQ(db.exec("SELECT count(*) FROM messages").at(0).at(0), "2");
}

TEST_F(GroupCommitTest, ABadMessageFailsAloneWhileItsBatchCommits) {
    GroupCommitter::Settings settings;
    settings.max_wait = std::chrono::milliseconds(200);  // all five form one batch
    settings.max_batches_in_flight = 1;
    GroupCommitter committer(pool, settings);
    std::vector<std::optional<Status>> results(5);
    for (int i = 0; i < 5; ++i) {
        const std::int64_t account = i == 2 ? account_id + 1000 : account_id;
        asio::co_spawn(
            io,
            [&, i, message = make_message(account, "body\r\n")]() mutable -> asio::awaitable<void> {
                results[i] = co_await committer.enqueue(message);
            },
            asio::detached);
    }
    io.run();
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(results[i].has_value());
        if (i == 2) {
            ASSERT_FALSE(*results[i]);
            EXPECT_EQ(results[i]->error().code, "23503");  // foreign_key_violation
            EXPECT_FALSE(results[i]->error().unavailable);
        } else {
            EXPECT_TRUE(*results[i]) << results[i]->error().message;
        }
    }
    EXPECT_EQ(db.exec("SELECT count(*) FROM messages").at(0).at(0), "4");
    EXPECT_EQ(db.exec("SELECT count(*) FROM recipients").at(0).at(0), "4");
    EXPECT_EQ(committer.messages_committed(), 4u);
}

TEST_F(GroupCommitTest, IdleSystemCommitsWithinMaxWait) {
    GroupCommitter committer(pool, GroupCommitter::Settings{});
    ASSERT_TRUE(test::run_awaitable(io, committer.enqueue(make_message(account_id, "warm\r\n"))));
    const auto start = std::chrono::steady_clock::now();
    Status status = test::run_awaitable(io, committer.enqueue(make_message(account_id, "x\r\n")));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
    EXPECT_EQ(committer.batches_committed(), 2u);
}

// Issue 11 point 19: a database (or server, or role) default of synchronous_commit = off
// would let PostgreSQL acknowledge a commit before its WAL reaches the disk, so a crash
// could lose mail already answered "250 queued". A trigger records the setting in force
// inside the accepting transaction itself.
TEST_F(GroupCommitTest, CommitsSynchronouslyWhenTheDatabaseDefaultIsOff) {
    db.exec("CREATE TABLE commit_settings (message_id uuid, synchronous_commit text)");
    db.exec(R"sql(
CREATE FUNCTION record_commit_setting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commit_settings VALUES (NEW.id, current_setting('synchronous_commit'));
    RETURN NEW;
END $$)sql");
    db.exec(
        "CREATE TRIGGER record_commit_setting AFTER INSERT ON messages "
        "FOR EACH ROW EXECUTE FUNCTION record_commit_setting()");
    db.exec("ALTER DATABASE \"" + db.name() + "\" SET synchronous_commit = off");

    // One connection, opened after the ALTER: it starts with the default off.
    pg::Pool one_connection(io.get_executor(), pg::Pool::Settings{db.url(), 1, 5, 10});
    auto setting = [&] {
        auto rows = test::run_awaitable(io, one_connection.query("SHOW synchronous_commit"));
        if (!rows) throw std::runtime_error(rows.error().message);
        return std::string(rows->get(0, 0));
    };
    ASSERT_EQ(setting(), "off");

    GroupCommitter committer(one_connection, GroupCommitter::Settings{});
    int committed = 0;
    for (int i = 0; i < 3; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                Status status = co_await committer.enqueue(make_message(account_id, "x\r\n"));
                if (status) ++committed;
            },
            asio::detached);
    }
    io.restart();
    io.run();
    ASSERT_EQ(committed, 3);
    EXPECT_EQ(
        db.exec("SELECT string_agg(synchronous_commit, ',') FROM commit_settings").at(0).at(0),
        "on,on,on");
    // SET LOCAL: the pooled connection's other work keeps its own setting.
    EXPECT_EQ(setting(), "off");
}

TEST(GroupCommitOutage, EnqueueFailsAsUnavailableWhenPostgresIsDown) {
    test::SilentServer silent;  // accepts TCP, never answers: only deadlines help
    for (const std::string& url : {test::refused_url(), silent.url()}) {
        asio::io_context io;
        pg::Pool pool(io.get_executor(), pg::Pool::Settings{url, 4, 1, 2});
        GroupCommitter committer(pool, GroupCommitter::Settings{});
        const auto start = std::chrono::steady_clock::now();
        Status status = test::run_awaitable(io, committer.enqueue(make_message(1, "body\r\n")));
        ASSERT_FALSE(status);
        EXPECT_TRUE(status.error().unavailable) << url;
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4)) << url;
        EXPECT_EQ(committer.messages_committed(), 0u);
    }
}

TEST_F(GroupCommitTest, OutageFailsEveryWaiterQuicklyAndEnqueueWorksAgainAfter) {
    test::TcpProxy proxy(db.url());
    pg::Pool outage_pool(io.get_executor(), pg::Pool::Settings{proxy.url(), 3, 2, 3});
    GroupCommitter committer(outage_pool, GroupCommitter::Settings{});
    ASSERT_TRUE(test::run_awaitable(io, committer.enqueue(make_message(account_id, "a\r\n"))));

    proxy.stop();
    int unavailable = 0;
    for (int i = 0; i < 30; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                Status status = co_await committer.enqueue(make_message(account_id, "b\r\n"));
                if (!status && status.error().unavailable) ++unavailable;
            },
            asio::detached);
    }
    const auto start = std::chrono::steady_clock::now();
    io.restart();
    io.run();
    EXPECT_EQ(unavailable, 30);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));

    proxy.start();
    Status status = test::run_awaitable(io, committer.enqueue(make_message(account_id, "c\r\n")));
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(db.exec("SELECT count(*) FROM messages").at(0).at(0), "2");
    EXPECT_EQ(committer.messages_committed(), 2u);
}

}  // namespace
}  // namespace smarthost::queue
