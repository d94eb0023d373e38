#include "relay/queue/claims.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <set>

#include "core/pg/pool.hpp"
#include "relay/queue/group_commit.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace std::string_literals;
using test::TestDatabase;

constexpr std::size_t k_no_byte_cap = std::size_t{1} << 40;
constexpr std::size_t k_mib = std::size_t{1} << 20;

class ClaimsTest : public ::testing::Test {
  protected:
    TestDatabase db;
    asio::io_context io;
    pg::Pool pool{io.get_executor(), pg::Pool::Settings{db.url(), 4, 5, 10}};
    std::int64_t account_id = db.create_account("customer");
    RetrySchedule schedule{RetryPolicy{}, [] { return 0.5; }};  // no jitter: exact times
    Claims claims{pool};

    // Enqueues one message to `addresses` and returns its id.
    std::string enqueue(std::vector<std::string> addresses,
                        std::string body = "Subject: t\r\n\r\nhi\r\n",
                        std::string sender = "sender@example.com") {
        NewMessage message;
        message.id = new_message_id();
        message.account_id = account_id;
        message.client_ip = "192.0.2.10";
        message.envelope.sender = std::move(sender);
        for (auto& address : addresses) {
            const std::string domain = address.substr(address.find('@') + 1);
            message.envelope.recipients.push_back({address, domain, "", ""});
        }
        message.body = std::move(body);
        GroupCommitter committer(pool, GroupCommitter::Settings{});
        std::string id = message.id;
        Status status = test::run_awaitable(io, committer.enqueue(std::move(message)));
        if (!status) throw std::runtime_error(status.error().message);
        return id;
    }

    Claim claim(const std::string& owner, std::size_t max_recipients = 100,
                std::size_t max_domains = 100, std::chrono::milliseconds lease = 60s,
                std::size_t max_body_bytes = k_no_byte_cap) {
        auto result = test::run_awaitable(
            io, claims.claim(owner, lease, max_recipients, max_domains, max_body_bytes));
        if (!result) throw std::runtime_error(result.error().message);
        return std::move(*result);
    }

    RecordReport record(const std::string& owner, const std::vector<AttemptResult>& results) {
        auto settlements = settle(results, schedule, std::chrono::system_clock::now());
        auto result =
            test::run_awaitable(io, claims.record(owner, results, std::move(settlements)));
        if (!result) throw std::runtime_error(result.error().message);
        return std::move(*result);
    }

    std::string scalar(std::string_view sql, const std::string& parameter = "") {
        auto rows = parameter.empty() ? db.exec(sql) : db.exec(sql, parameter);
        return rows.at(0).at(0).value_or("NULL");
    }

    Claim claim_bytes(const std::string& owner, std::size_t max_body_bytes) {
        return claim(owner, 100, 100, 60s, max_body_bytes);
    }

    std::vector<std::string> claimed_message_ids(const Claim& claim) {
        std::set<std::string> ids;
        for (const auto& group : claim.domains)
            for (const auto& message : group.messages)
                ids.insert(message.id);
        return {ids.begin(), ids.end()};
    }

    std::string leased_by(const std::string& message_id) {
        return scalar(
            "SELECT string_agg(coalesce(lease_owner, state), ',' ORDER BY id) FROM recipients "
            "WHERE message_id = $1",
            message_id);
    }

    std::int64_t recipient_id(const std::string& address) {
        return std::stoll(scalar("SELECT id FROM recipients WHERE address = $1", address));
    }
};

// `reply` is "CODE ENHANCED text", as a server would send it.
AttemptResult result_for(const ClaimedMessage& message, const ClaimedRecipient& recipient,
                         Verdict verdict, const std::string& reply) {
    AttemptResult result;
    result.message = &message;
    result.recipient = &recipient;
    result.verdict = verdict;
    const auto enhanced_end = reply.find(' ', 4);
    result.reply = smtp::Reply{std::stoi(reply.substr(0, 3)),
                               reply.substr(4, enhanced_end - 4),
                               {reply.substr(enhanced_end + 1)}};
    result.remote = true;
    result.stage = Stage::rcpt;
    result.peer = Peer{"mx1.example.org", "198.51.100.7", "TLSv1.3"};
    return result;
}

TEST_F(ClaimsTest, ClaimGroupsDueRecipientsByDomainAndLeasesThem) {
    const std::string body = "Subject: x\r\n\r\n8bit \xc3\xa9 and NUL \0 bytes\r\n"s;
    const std::string first = enqueue({"a1@x.example", "a2@y.example", "a3@x.example"}, body);
    const std::string second = enqueue({"b1@x.example"});
    const std::string later = enqueue({"c1@x.example"});
    db.exec(
        "UPDATE recipients SET next_attempt_at = now() + interval '1 hour' "
        "WHERE message_id = $1",
        later);

    const Claim claim = this->claim("worker-1");
    EXPECT_EQ(claim.recipients, 4u);
    ASSERT_EQ(claim.domains.size(), 2u);
    EXPECT_EQ(claim.domains[0].domain, "x.example");
    EXPECT_EQ(claim.domains[1].domain, "y.example");

    const auto& x = claim.domains[0].messages;
    ASSERT_EQ(x.size(), 2u);
    const auto& with_two = x[0].id == first ? x[0] : x[1];
    const auto& with_one = x[0].id == first ? x[1] : x[0];
    EXPECT_EQ(with_two.id, first);
    EXPECT_EQ(with_one.id, second);
    ASSERT_EQ(with_two.recipients.size(), 2u);
    EXPECT_EQ(with_two.recipients[0].address, "a1@x.example");
    EXPECT_EQ(with_two.recipients[1].address, "a3@x.example");
    EXPECT_EQ(with_two.recipients[0].attempts, 1);
    EXPECT_EQ(with_two.sender, "sender@example.com");
    EXPECT_EQ(with_two.account_id, account_id);
    ASSERT_TRUE(with_two.body);
    EXPECT_EQ(*with_two.body, body);
    EXPECT_LT(std::chrono::system_clock::now() - with_two.received_at, 1min);

    ASSERT_EQ(claim.domains[1].messages.size(), 1u);
    const auto& y = claim.domains[1].messages[0];
    EXPECT_EQ(y.id, first);
    EXPECT_EQ(y.body, with_two.body);  // one shared copy
    ASSERT_EQ(y.recipients.size(), 1u);
    EXPECT_EQ(y.recipients[0].address, "a2@y.example");

    EXPECT_EQ(scalar("SELECT count(*) FROM recipients WHERE state = 'in_flight' AND "
                     "lease_owner = 'worker-1' AND attempts = 1 AND "
                     "lease_expires_at BETWEEN now() + interval '50 seconds' AND "
                     "now() + interval '70 seconds'"),
              "4");
    EXPECT_EQ(scalar("SELECT state FROM recipients WHERE message_id = $1", later), "queued");
    EXPECT_TRUE(this->claim("worker-2").domains.empty());
}

TEST_F(ClaimsTest, ClaimCarriesDsnParameters) {
    NewMessage message;
    message.id = new_message_id();
    message.account_id = account_id;
    message.client_ip = "192.0.2.10";
    message.envelope.sender = "s@example.com";
    message.envelope.ret = smtp::DsnReturn::full;
    message.envelope.envid = "env-7";
    message.envelope.body = smtp::BodyType::eight_bit_mime;
    message.envelope.recipients.push_back(
        {"r@example.org", "example.org", "SUCCESS,FAILURE", "rfc822;R@example.org"});
    message.body = "x\r\n";
    message.header_message_id = "<m@example.com>";
    GroupCommitter committer(pool, GroupCommitter::Settings{});
    ASSERT_TRUE(test::run_awaitable(io, committer.enqueue(message)));

    const Claim claim = this->claim("w");
    ASSERT_EQ(claim.recipients, 1u);
    const auto& claimed = claim.domains.at(0).messages.at(0);
    EXPECT_EQ(claimed.ret, smtp::DsnReturn::full);
    EXPECT_EQ(claimed.envid, "env-7");
    EXPECT_TRUE(claimed.body_8bitmime);
    EXPECT_FALSE(claimed.smtputf8);
    EXPECT_EQ(claimed.header_message_id, "<m@example.com>");
    EXPECT_EQ(claimed.recipients.at(0).notify, "SUCCESS,FAILURE");
    EXPECT_EQ(claimed.recipients.at(0).orcpt, "rfc822;R@example.org");
}

TEST_F(ClaimsTest, MaxRecipientsAndMaxDomainsBoundTheBatch) {
    enqueue({"1@a.example", "2@a.example", "3@a.example"});
    enqueue({"1@b.example", "2@b.example"});
    enqueue({"1@c.example"});
    Claim first = claim("w", 100, 2);
    EXPECT_EQ(first.domains.size(), 2u);
    EXPECT_EQ(first.recipients, 5u);

    db.exec("UPDATE recipients SET state = 'queued', lease_owner = NULL, attempts = 0");
    Claim second = claim("w", 4, 100);
    EXPECT_EQ(second.recipients, 4u);
    EXPECT_EQ(scalar("SELECT count(*) FROM recipients WHERE state = 'in_flight'"), "4");
}

TEST_F(ClaimsTest, ByteCapLeasesOnlyTheMessagesWhoseBodiesFit) {
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i)
        ids.push_back(enqueue({"r" + std::to_string(i) + "@x.example"},
                              std::string(k_mib, static_cast<char>('a' + i))));

    const Claim first = claim_bytes("w1", 5 * k_mib / 2);
    EXPECT_EQ(first.recipients, 2u);
    EXPECT_EQ(first.body_bytes, 2 * k_mib);
    EXPECT_TRUE(first.byte_cap_reached);
    std::vector<std::string> expected{ids[0], ids[1]};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(claimed_message_ids(first), expected);
    EXPECT_EQ(leased_by(ids[0]), "w1");
    EXPECT_EQ(leased_by(ids[1]), "w1");
    for (int i = 2; i < 5; ++i)
        EXPECT_EQ(leased_by(ids[i]), "queued");
    EXPECT_EQ(scalar("SELECT count(*) FROM recipients WHERE state = 'queued' AND attempts = 0"),
              "3");

    const Claim second = claim_bytes("w2", 5 * k_mib / 2);
    EXPECT_EQ(second.recipients, 2u);
    EXPECT_EQ(leased_by(ids[2]), "w2");
    EXPECT_EQ(leased_by(ids[3]), "w2");
    const Claim last = claim_bytes("w3", 5 * k_mib / 2);
    EXPECT_EQ(last.recipients, 1u);
    EXPECT_FALSE(last.byte_cap_reached);
    EXPECT_EQ(leased_by(ids[4]), "w3");
}

TEST_F(ClaimsTest, ByteCapCountsAMessageOnceWhateverItsRecipientsAndDomains) {
    const std::string both =
        enqueue({"a1@x.example", "a2@y.example", "a3@x.example"}, std::string(k_mib, 'a'));
    const std::string next = enqueue({"b1@x.example"}, std::string(k_mib, 'b'));
    const std::string left = enqueue({"c1@y.example"}, std::string(k_mib, 'c'));

    const Claim claim = claim_bytes("w", 2 * k_mib);
    EXPECT_EQ(claim.recipients, 4u);
    EXPECT_EQ(claim.body_bytes, 2 * k_mib);
    EXPECT_EQ(leased_by(both), "w,w,w");
    EXPECT_EQ(leased_by(next), "w");
    EXPECT_EQ(leased_by(left), "queued");
}

TEST_F(ClaimsTest, AMessageBiggerThanTheByteCapIsClaimedAlone) {
    const std::string big =
        enqueue({"big1@x.example", "big2@y.example"}, std::string(3 * k_mib, 'B'));
    const std::string small = enqueue({"small@x.example"});

    const Claim claim = claim_bytes("w", k_mib);
    EXPECT_EQ(claim.recipients, 2u);
    EXPECT_EQ(claimed_message_ids(claim), std::vector<std::string>{big});
    EXPECT_EQ(claim.body_bytes, 3 * k_mib);
    EXPECT_TRUE(claim.byte_cap_reached);
    ASSERT_TRUE(claim.domains[0].messages[0].body);
    EXPECT_EQ(claim.domains[0].messages[0].body->size(), 3 * k_mib);
    EXPECT_EQ(leased_by(big), "w,w");
    EXPECT_EQ(leased_by(small), "queued");

    const Claim next = claim_bytes("w", k_mib);
    EXPECT_EQ(claimed_message_ids(next), std::vector<std::string>{small});
}

TEST_F(ClaimsTest, BodiesComeBackByteExactWhateverTheirBytes) {
    std::string every_byte;
    for (int value = 0; value < 256; ++value)
        every_byte += static_cast<char>(value);
    const std::string body = "Subject: bytes\r\n\r\n\0\x80\xff\r\n"s + every_byte + "\r\n.\r\n\r\n";
    const std::string id = enqueue({"a@x.example", "b@y.example"}, body);
    const std::string purged = enqueue({"c@x.example"}, "purged\r\n");
    db.exec("UPDATE messages SET body = NULL WHERE id = $1::uuid", purged);

    const Claim claim = this->claim("w");
    ASSERT_EQ(claim.domains.size(), 2u);
    const auto& x = claim.domains[0].messages;
    ASSERT_EQ(x.size(), 2u);
    const auto& with_body = x[0].id == id ? x[0] : x[1];
    const auto& without = x[0].id == id ? x[1] : x[0];
    ASSERT_TRUE(with_body.body);
    EXPECT_EQ(*with_body.body, body);
    EXPECT_EQ(claim.domains[1].messages[0].body, with_body.body);
    EXPECT_FALSE(without.body);
    EXPECT_EQ(claim.body_bytes, body.size());
}

TEST_F(ClaimsTest, BodiesBiggerThanOneFetchTogetherAllArrive) {
    std::vector<std::string> bodies;
    for (char fill : {'p', 'q', 'r'}) {
        bodies.emplace_back(6 * k_mib, fill);
        bodies.back()[3 * k_mib] = '\0';
    }
    for (std::size_t i = 0; i < bodies.size(); ++i)
        enqueue({"r" + std::to_string(i) + "@x.example"}, bodies[i]);

    const Claim claim = this->claim("w");
    ASSERT_EQ(claim.domains.size(), 1u);
    ASSERT_EQ(claim.domains[0].messages.size(), 3u);
    std::multiset<std::string> got;
    for (const auto& message : claim.domains[0].messages) {
        ASSERT_TRUE(message.body);
        got.insert(*message.body);
    }
    EXPECT_EQ(got, std::multiset<std::string>(bodies.begin(), bodies.end()));
    EXPECT_EQ(claim.body_bytes, 18 * k_mib);
}

// Bodies over 4 MiB come in slices: one ending mid-slice, one of exactly two slices, and
// one purged after it was stored, which stays null like a body purged before the claim.
TEST_F(ClaimsTest, LargeBodiesArriveWholeFromTheirSlices) {
    std::string odd;
    for (std::size_t i = 0; odd.size() < 9 * k_mib + 7; ++i)
        odd += static_cast<char>((i * 7 + i / 251) & 0xff);
    const std::string even(8 * k_mib, 'E');
    const std::string odd_id = enqueue({"odd@x.example"}, odd);
    const std::string even_id = enqueue({"even@x.example"}, even);
    const std::string purged = enqueue({"purged@x.example"}, std::string(5 * k_mib, 'P'));
    db.exec("UPDATE messages SET body = NULL WHERE id = $1::uuid", purged);

    const Claim claim = this->claim("w");
    ASSERT_EQ(claim.domains.size(), 1u);
    ASSERT_EQ(claim.domains[0].messages.size(), 3u);
    for (const auto& message : claim.domains[0].messages) {
        if (message.id == purged) {
            EXPECT_FALSE(message.body);
            continue;
        }
        ASSERT_TRUE(message.body) << message.id;
        EXPECT_TRUE(*message.body == (message.id == odd_id ? odd : even)) << message.id;
    }
    EXPECT_EQ(claim.body_bytes, odd.size() + even.size());
}

TEST_F(ClaimsTest, ConcurrentClaimersNeverGetTheSameRecipient) {
    for (int i = 0; i < 60; ++i) {
        enqueue({"r" + std::to_string(i) + "@a.example", "r" + std::to_string(i) + "@b.example",
                 "r" + std::to_string(i) + "@c.example"});
    }
    pg::Pool other_pool{io.get_executor(), pg::Pool::Settings{db.url(), 4, 5, 10}};
    Claims other{other_pool};
    std::vector<std::int64_t> seen;
    int empty_rounds = 0;
    auto worker = [&](Claims& claims, std::string owner) -> asio::awaitable<void> {
        for (;;) {
            auto claim = co_await claims.claim(owner, 60s, 7, 2, k_no_byte_cap);
            if (!claim) throw std::runtime_error(claim.error().message);
            if (claim->recipients == 0) {
                ++empty_rounds;
                co_return;
            }
            for (std::int64_t id : claim->recipient_ids())
                seen.push_back(id);
        }
    };
    for (int i = 0; i < 3; ++i) {
        asio::co_spawn(io, worker(claims, "a" + std::to_string(i)), asio::detached);
        asio::co_spawn(io, worker(other, "b" + std::to_string(i)), asio::detached);
    }
    io.restart();
    io.run();
    EXPECT_EQ(empty_rounds, 6);
    std::set<std::int64_t> unique(seen.begin(), seen.end());
    EXPECT_EQ(unique.size(), seen.size()) << "a recipient was claimed twice";
    EXPECT_EQ(seen.size(), 180u);
    EXPECT_EQ(scalar("SELECT count(*) FROM recipients WHERE state = 'in_flight' AND attempts = 1"),
              "180");
}

TEST_F(ClaimsTest, ExpiredLeaseIsReclaimedAndTheOldOwnerCannotOverwrite) {
    enqueue({"r@example.org"});
    Claim crashed = claim("crashed");
    ASSERT_EQ(crashed.recipients, 1u);
    EXPECT_EQ(claim("other").recipients, 0u);  // lease still valid

    db.exec("UPDATE recipients SET lease_expires_at = now() - interval '1 second'");
    Claim taken = claim("other");
    ASSERT_EQ(taken.recipients, 1u);
    const auto& message = taken.domains[0].messages[0];
    EXPECT_EQ(message.recipients[0].attempts, 2);
    EXPECT_EQ(scalar("SELECT lease_owner FROM recipients"), "other");

    const auto& old = crashed.domains[0].messages[0];
    RecordReport stale = record(
        "crashed", {result_for(old, old.recipients[0], Verdict::permanent, "550 5.1.1 unknown")});
    EXPECT_EQ(stale.updated, 0u);
    EXPECT_EQ(stale.states, std::vector<RecipientState>{RecipientState::lease_lost});
    EXPECT_EQ(scalar("SELECT state FROM recipients"), "in_flight");
    EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE kind <> 'accepted'"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM suppressions"), "0");

    RecordReport fresh = record(
        "other", {result_for(message, message.recipients[0], Verdict::delivered, "250 2.0.0 ok")});
    EXPECT_EQ(fresh.updated, 1u);
    EXPECT_EQ(scalar("SELECT state FROM recipients"), "delivered");
}

// A report (DSN) for the recipients it names, from the null sender to the original sender.
QueuedReport report_on(std::int64_t account_id, std::vector<std::int64_t> reported) {
    QueuedReport report;
    report.message.id = new_message_id();
    report.message.account_id = account_id;
    report.message.client_ip = "127.0.0.1";
    report.message.envelope.recipients.push_back({"sender@example.com", "example.com", "", ""});
    report.message.body = "Subject: Undelivered Mail\r\n\r\nreport\r\n";
    report.reported_recipients = std::move(reported);
    return report;
}

TEST_F(ClaimsTest, ReportIsStoredWithTheBounceItReportsInOneTransaction) {
    enqueue({"gone@example.org", "ok@example.org"});
    Claim c = claim("w");
    const auto& message = c.domains[0].messages[0];
    std::vector<AttemptResult> outcomes{
        result_for(message, message.recipients[0], Verdict::permanent, "550 5.1.1 unknown"),
        result_for(message, message.recipients[1], Verdict::delivered, "250 2.0.0 ok")};
    const auto settled = settle(outcomes, schedule, std::chrono::system_clock::now());
    ASSERT_EQ(settled.size(), 2u);
    EXPECT_EQ(settled[0].state, RecipientState::bounced);
    auto report = report_on(account_id, {message.recipients[0].id});
    const std::string report_id = report.message.id;
    auto result = test::run_awaitable(
        io, claims.record("w", outcomes, settled, std::vector<QueuedReport>{std::move(report)}));
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->reports_stored, std::vector<bool>{true});
    EXPECT_EQ(scalar("SELECT envelope_sender FROM messages WHERE id = $1::uuid", report_id), "");
    EXPECT_EQ(scalar("SELECT state FROM recipients WHERE message_id = $1::uuid", report_id),
              "queued");
}

TEST_F(ClaimsTest, ReportIsNotStoredWhenARecipientItNamesWasTakenOver) {
    enqueue({"gone@example.org"});
    Claim crashed = claim("crashed");
    db.exec("UPDATE recipients SET lease_expires_at = now() - interval '1 second'");
    ASSERT_EQ(claim("other").recipients, 1u);
    const auto& old = crashed.domains[0].messages[0];
    std::vector<AttemptResult> outcomes{
        result_for(old, old.recipients[0], Verdict::permanent, "550 5.1.1 unknown")};
    const auto settled = settle(outcomes, schedule, std::chrono::system_clock::now());
    auto result = test::run_awaitable(
        io,
        claims.record("crashed", outcomes, settled,
                      std::vector<QueuedReport>{report_on(account_id, {old.recipients[0].id})}));
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->states, std::vector<RecipientState>{RecipientState::lease_lost});
    EXPECT_EQ(result->reports_stored, std::vector<bool>{false});
    EXPECT_EQ(scalar("SELECT count(*) FROM messages"), "1");  // the original only
}

// Issue 11 point 13: the suppression is stored in the form every lookup uses, so a
// needlessly quoted or SMTPUTF8 spelling of the address is suppressed with it.
TEST_F(ClaimsTest, HardBounceSuppressesTheCanonicalAddress) {
    enqueue({"\"Gone.User\"@Example.ORG", "Jörg@Bücher.example"});
    Claim claim = this->claim("w");
    ASSERT_EQ(claim.recipients, 2u);
    std::vector<AttemptResult> outcomes;
    for (const auto& group : claim.domains)
        for (const auto& message : group.messages)
            for (const auto& recipient : message.recipients)
                outcomes.push_back(
                    result_for(message, recipient, Verdict::permanent, "550 5.1.1 no such user"));
    EXPECT_EQ(record("w", outcomes).updated, 2u);
    std::set<std::string> stored;
    for (const auto& row : db.exec("SELECT address FROM suppressions"))
        stored.insert(*row[0]);
    EXPECT_EQ(stored,
              (std::set<std::string>{"gone.user@example.org", "jörg@xn--bcher-kva.example"}));
}

TEST_F(ClaimsTest, OutcomesAreRecordedWithEventsAndSuppressions) {
    enqueue({"ok@example.org", "later@example.org", "Gone@Example.org", "policy@example.org"});
    const std::string old = enqueue({"old@example.net"});
    db.exec("UPDATE messages SET received_at = now() - interval '6 days' WHERE id = $1", old);

    Claim claim = this->claim("w");
    ASSERT_EQ(claim.recipients, 5u);
    std::vector<AttemptResult> outcomes;
    for (const auto& group : claim.domains) {
        for (const auto& message : group.messages) {
            for (const auto& recipient : message.recipients) {
                const std::string& a = recipient.address;
                if (a == "ok@example.org")
                    outcomes.push_back(result_for(message, recipient, Verdict::delivered,
                                                  "250 2.0.0 queued as X"));
                if (a == "later@example.org" || a == "old@example.net")
                    outcomes.push_back(
                        result_for(message, recipient, Verdict::temporary, "451 4.7.1 greylisted"));
                if (a == "Gone@Example.org")
                    outcomes.push_back(result_for(message, recipient, Verdict::permanent,
                                                  "550 5.1.1 no such user"));
                if (a == "policy@example.org")
                    outcomes.push_back(result_for(message, recipient, Verdict::permanent,
                                                  "550 5.7.1 rejected by policy"));
            }
        }
    }
    ASSERT_EQ(outcomes.size(), 5u);
    const auto before = std::chrono::system_clock::now();
    RecordReport report = record("w", outcomes);
    EXPECT_EQ(report.updated, 5u);
    ASSERT_EQ(report.states.size(), 5u);
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        const bool is_old = outcomes[i].message->received_at < before - 5 * 24h;
        if (outcomes[i].verdict == Verdict::temporary) {
            EXPECT_EQ(report.states[i],
                      is_old ? RecipientState::expired : RecipientState::deferred);
        }
    }

    auto state = [&](const std::string& address) {
        return db
            .exec(
                "SELECT state, last_reply, lease_owner, lease_expires_at FROM recipients "
                "WHERE address = $1",
                address)
            .at(0);
    };
    EXPECT_EQ(state("ok@example.org")[0], "delivered");
    EXPECT_EQ(state("ok@example.org")[1], "250 2.0.0 queued as X");
    EXPECT_EQ(state("ok@example.org")[2], std::nullopt);
    EXPECT_EQ(state("ok@example.org")[3], std::nullopt);
    EXPECT_EQ(state("later@example.org")[0], "deferred");
    EXPECT_EQ(state("later@example.org")[1], "451 4.7.1 greylisted");
    // First failure: 5 minutes, no jitter (the injected generator returns the midpoint).
    EXPECT_EQ(scalar("SELECT next_attempt_at BETWEEN now() + interval '4 minutes 50 seconds' "
                     "AND now() + interval '5 minutes 10 seconds' FROM recipients "
                     "WHERE address = $1",
                     "later@example.org"),
              "t");
    EXPECT_EQ(state("Gone@Example.org")[0], "bounced");
    EXPECT_EQ(state("policy@example.org")[0], "bounced");
    EXPECT_EQ(state("old@example.net")[0], "expired");

    auto events = db.exec(
        "SELECT r.address, e.kind, e.remote_host, host(e.remote_ip), e.tls_version, e.reply "
        "FROM events e JOIN recipients r ON r.id = e.recipient_id ORDER BY r.address, e.id");
    ASSERT_EQ(events.size(), 10u);
    std::set<std::pair<std::string, std::string>> kinds;
    for (const auto& row : events) {
        kinds.emplace(*row[0], *row[1]);
        EXPECT_EQ(row[2], "mx1.example.org");
        EXPECT_EQ(row[3], "198.51.100.7");
        EXPECT_EQ(row[4], "TLSv1.3");
        EXPECT_TRUE(row[5].has_value());
    }
    for (const std::string address : {"ok@example.org", "later@example.org", "Gone@Example.org",
                                      "policy@example.org", "old@example.net"})
        EXPECT_TRUE(kinds.contains({address, "attempt"})) << address;
    EXPECT_TRUE(kinds.contains({"ok@example.org", "delivered"}));
    EXPECT_TRUE(kinds.contains({"later@example.org", "deferred"}));
    EXPECT_TRUE(kinds.contains({"Gone@Example.org", "bounced"}));
    EXPECT_TRUE(kinds.contains({"policy@example.org", "bounced"}));
    EXPECT_TRUE(kinds.contains({"old@example.net", "expired"}));

    auto suppressions = db.exec("SELECT account_id, address, reason, last_reply FROM suppressions");
    ASSERT_EQ(suppressions.size(), 1u);  // 5.7.1 is not an address failure
    EXPECT_EQ(suppressions[0][0], std::to_string(account_id));
    EXPECT_EQ(suppressions[0][1], "gone@example.org");
    EXPECT_EQ(suppressions[0][2], "hard_bounce");
    EXPECT_EQ(suppressions[0][3], "550 5.1.1 no such user");

    // A second hard bounce to the same address leaves the one suppression.
    enqueue({"gone@example.org"});
    Claim again = this->claim("w");
    ASSERT_EQ(again.recipients, 1u);
    const auto& message = again.domains[0].messages[0];
    RecordReport second = record(
        "w", {result_for(message, message.recipients[0], Verdict::permanent, "550 5.1.1 nope")});
    EXPECT_EQ(second.updated, 1u);
    EXPECT_EQ(scalar("SELECT count(*) FROM suppressions"), "1");
}

TEST_F(ClaimsTest, DeferredRecipientIsDueAgainOnlyAfterItsNextAttempt) {
    enqueue({"r@example.org"});
    Claim first = claim("w");
    const auto& message = first.domains.at(0).messages.at(0);
    record("w",
           {result_for(message, message.recipients[0], Verdict::temporary, "421 4.4.2 timeout")});
    EXPECT_EQ(claim("w").recipients, 0u);
    db.exec("UPDATE recipients SET next_attempt_at = now() - interval '1 second'");
    Claim second = claim("w");
    ASSERT_EQ(second.recipients, 1u);
    EXPECT_EQ(second.domains[0].messages[0].recipients[0].attempts, 2);
}

TEST_F(ClaimsTest, ExtendLeaseOnlyForTheOwner) {
    enqueue({"a@example.org", "b@example.org"});
    Claim claim = this->claim("w", 100, 100, 10s);
    auto ids = claim.recipient_ids();
    auto extended = test::run_awaitable(io, claims.extend_lease("w", ids, 1h));
    ASSERT_TRUE(extended);
    EXPECT_EQ(*extended, 2u);
    EXPECT_EQ(scalar("SELECT count(*) FROM recipients WHERE "
                     "lease_expires_at > now() + interval '50 minutes'"),
              "2");
    auto foreign = test::run_awaitable(io, claims.extend_lease("intruder", ids, 2h));
    ASSERT_TRUE(foreign);
    EXPECT_EQ(*foreign, 0u);
}

// A worker records its outcomes while the lease loop extends every lease of the process:
// both update the same rows, and must never deadlock (PostgreSQL would abort one, and a
// lost record means the mail goes out again when the lease runs out).
TEST_F(ClaimsTest, RecordingAndExtendingTheSameLeasesNeverDeadlock) {
    for (int round = 0; round < 20; ++round) {
        std::vector<std::string> addresses;
        for (int i = 0; i < 80; ++i)
            addresses.push_back("r" + std::to_string(round) + "-" + std::to_string(i) +
                                "@example.org");
        enqueue(addresses);
        Claim claim = this->claim("w", 1000, 100, 60s);
        ASSERT_EQ(claim.recipients, 80u);
        std::vector<AttemptResult> outcomes;
        for (const auto& message : claim.domains.at(0).messages)
            for (const auto& recipient : message.recipients)
                outcomes.push_back(
                    result_for(message, recipient, Verdict::delivered, "250 2.0.0 Ok"));
        // Highest id first: the opposite of the order an index scan finds them in.
        std::sort(outcomes.begin(), outcomes.end(),
                  [](const AttemptResult& a, const AttemptResult& b) {
                      return a.recipient->id > b.recipient->id;
                  });
        auto ids = claim.recipient_ids();
        std::optional<Result<RecordReport>> recorded;
        std::vector<Result<std::size_t>> extensions;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                recorded = co_await claims.record(
                    "w", outcomes, settle(outcomes, schedule, std::chrono::system_clock::now()));
            },
            asio::detached);
        for (int k = 0; k < 3; ++k)
            asio::co_spawn(
                io,
                [&]() -> asio::awaitable<void> {
                    auto extended = co_await claims.extend_lease("w", ids, 60s);
                    extensions.push_back(std::move(extended));
                },
                asio::detached);
        io.restart();
        io.run();
        ASSERT_TRUE(recorded.has_value());
        ASSERT_TRUE(*recorded) << "round " << round << ": " << recorded->error().message;
        EXPECT_EQ((*recorded)->updated, 80u);
        for (const auto& extended : extensions)
            ASSERT_TRUE(extended) << "round " << round << ": " << extended.error().message;
    }
    EXPECT_EQ(scalar("SELECT count(*) FROM recipients WHERE state = 'delivered'"), "1600");
}

TEST_F(ClaimsTest, ReleaseGivesRecipientsBackWithoutCountingAnAttempt) {
    enqueue({"new@example.org", "retried@example.org", "partial@example.org"});
    db.exec("UPDATE recipients SET state = 'deferred', attempts = 3 WHERE address = $1",
            "retried@example.org");
    enqueue({"someone-elses@example.org"});
    Claim mine = claim("w", 3);
    ASSERT_EQ(mine.recipients, 3u);
    Claim theirs = claim("other");
    ASSERT_EQ(theirs.recipients, 1u);

    auto some = test::run_awaitable(
        io, claims.release("w", std::vector<std::int64_t>{recipient_id("partial@example.org")}));
    ASSERT_TRUE(some);
    EXPECT_EQ(*some, 1u);
    auto released = test::run_awaitable(io, claims.release("w"));
    ASSERT_TRUE(released);
    EXPECT_EQ(*released, 2u);

    auto row = [&](const std::string& address) {
        return db
            .exec(
                "SELECT state, attempts, lease_owner, next_attempt_at <= now() "
                "FROM recipients WHERE address = $1",
                address)
            .at(0);
    };
    EXPECT_EQ(row("new@example.org"), (TestDatabase::Row{"queued", "0", std::nullopt, "t"}));
    EXPECT_EQ(row("partial@example.org"), (TestDatabase::Row{"queued", "0", std::nullopt, "t"}));
    EXPECT_EQ(row("retried@example.org"), (TestDatabase::Row{"deferred", "3", std::nullopt, "t"}));
    EXPECT_EQ(row("someone-elses@example.org")[0], "in_flight");
    EXPECT_EQ(claim("w").recipients, 3u);  // due again at once
}

// Destination shaping's "not attempted, due again at T": the attempt taken at claim time is
// given back and the recipient is due exactly when the worker said, not before.
TEST_F(ClaimsTest, PostponeGivesTheAttemptBackAndMakesTheRecipientDueAtTheGivenTime) {
    enqueue({"new@example.org", "retried@example.org"});
    db.exec("UPDATE recipients SET state = 'deferred', attempts = 2 WHERE address = $1",
            "retried@example.org");
    Claim mine = claim("w");
    ASSERT_EQ(mine.recipients, 2u);
    const auto due = std::chrono::system_clock::time_point(std::chrono::seconds(4102444800));
    auto postponed = test::run_awaitable(
        io, claims.postpone("w", mine.recipient_ids(), due));  // 2100-01-01T00:00:00Z
    ASSERT_TRUE(postponed);
    EXPECT_EQ(*postponed, 2u);
    const auto rows = db.exec(
        "SELECT address, state, attempts, lease_owner IS NULL, "
        "extract(epoch FROM next_attempt_at)::bigint FROM recipients ORDER BY address");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(*rows[0][0], "new@example.org");
    EXPECT_EQ(*rows[0][1], "queued");
    EXPECT_EQ(*rows[0][2], "0");
    EXPECT_EQ(*rows[0][3], "t");
    EXPECT_EQ(*rows[0][4], "4102444800");
    EXPECT_EQ(*rows[1][1], "deferred");
    EXPECT_EQ(*rows[1][2], "2");
    EXPECT_EQ(*rows[1][4], "4102444800");
    EXPECT_EQ(claim("w").recipients, 0u);  // not due before then
    // Only the owner's leases: another worker's postpone touches nothing.
    auto theirs = test::run_awaitable(io, claims.postpone("other", mine.recipient_ids(), due));
    ASSERT_TRUE(theirs);
    EXPECT_EQ(*theirs, 0u);
}

}  // namespace
}  // namespace smarthost::queue
