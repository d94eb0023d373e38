// Scale-out (issue 6): three smarthost processes with every role on one PostgreSQL, behind
// a load balancer of the test's own that speaks the PROXY protocol. Clients on eight
// loopback addresses send 2,000 messages across them; midway one process is killed with
// SIGKILL and a second one stopped with SIGTERM. Every acknowledged message must reach the
// sink; the only duplicates allowed are recipients the killed process held when it died
// (delivered, but not yet recorded); an account's rate limit holds across the processes;
// and every Received: header names the client's own address, not the balancer's.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "core/crypto.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/support/proxy_forwarder.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The balancer sends a PROXY v2 header from its own address to listeners that trust only
// it. false: it connects from each client's own address without one (to tell a PROXY
// problem from anything else when this test fails).
constexpr bool k_proxy_protocol = true;
constexpr const char* k_balancer_address = "127.0.0.200";

constexpr int k_messages = 2000;
constexpr int k_processes = 3;
constexpr int k_threads_per_client = 2;
constexpr int k_messages_per_connection = 5;
// One account's messages_per_hour, and how many messages its client tries.
// Its client runs on three threads, so that it is done before the kill: a process killed
// holding some of the account's leased quota would leave less than the limit accepted.
constexpr int k_limit = 30;
constexpr int k_limited_attempts = 60;
constexpr int k_limited_threads = 3;
constexpr const char* k_password = "scale-out secret";

// A customer's client: allow-listed by its address, or logging in (AUTH PLAIN).
struct Client {
    std::string address;
    std::string account;
    bool auth = false;
    bool limited = false;
    std::string domain() const { return account + ".test"; }
};

std::vector<Client> clients() {
    std::vector<Client> out;
    for (int host = 11; host <= 18; ++host) {
        Client client;
        client.address = "127.0.0." + std::to_string(host);
        client.account = "customer" + std::to_string(host);
        client.auth = host == 17;
        client.limited = host == 18;
        out.push_back(client);
    }
    return out;
}

// "m17.a2": logical message 17, second attempt. The sink's copy is matched by it.
std::string token(int message, int attempt) {
    return "m" + std::to_string(message) + ".a" + std::to_string(attempt);
}

struct AttemptRecord {
    int message = 0;
    int attempt = 0;
    std::string queue_id;  // only when acknowledged
};

// What every client thread reports, shared.
struct Tally {
    std::mutex mutex;
    std::vector<AttemptRecord> acknowledged;
    std::vector<std::string> failures;  // replies no client should ever get
    std::atomic<int> acknowledged_count = 0;
    std::atomic<int> refused_by_limit = 0;
    std::atomic<int> attempts = 0;
    std::atomic<int> client_retries = 0;  // attempts after a broken or 4xx one
    std::atomic<int> broken_connections = 0;

    void acknowledge(int message, int attempt, std::string queue_id) {
        std::lock_guard lock(mutex);
        acknowledged.push_back({message, attempt, std::move(queue_id)});
        ++acknowledged_count;
    }
    void fail(std::string what) {
        std::lock_guard lock(mutex);
        failures.push_back(std::move(what));
    }
};

enum class Outcome { acknowledged, refused_by_limit, retry, failed };

class ClientThread {
  public:
    ClientThread(Client client, std::uint16_t port, std::vector<int> messages, Tally& tally,
                 int per_connection)
        : client_(std::move(client)),
          port_(port),
          messages_(std::move(messages)),
          tally_(tally),
          per_connection_(per_connection) {}

    void run(Clock::time_point deadline) {
        std::size_t next = 0;
        int attempt = 1;
        while (next < messages_.size()) {
            if (Clock::now() > deadline) {
                tally_.fail(client_.address + ": deadline passed with messages unsent");
                return;
            }
            auto connection = open();
            if (!connection) {
                ++tally_.broken_connections;
                std::this_thread::sleep_for(50ms);
                continue;
            }
            for (int k = 0; k < per_connection_ && next < messages_.size(); ++k) {
                ++tally_.attempts;
                const auto outcome = transaction(*connection, messages_[next], attempt);
                if (outcome == Outcome::retry) {
                    ++tally_.client_retries;
                    ++attempt;
                    connection.reset();
                    break;
                }
                ++next;
                attempt = 1;
            }
            if (connection) {
                try {
                    connection->command("QUIT");
                } catch (const std::exception&) {
                }
            }
        }
    }

  private:
    // A connection through the balancer, greeted and (for AUTH clients) logged in.
    std::unique_ptr<RawSmtpClient> open() {
        try {
            auto connection = std::make_unique<RawSmtpClient>(port_, client_.address);
            if (reply_code(connection->reply()) != 220) return nullptr;  // 421 while draining
            if (reply_code(connection->command("EHLO app." + client_.domain())) != 250)
                return nullptr;
            if (client_.auth) {
                const auto login = connection->command(auth_plain(client_.account, k_password));
                if (reply_code(login) != 235) {
                    if (reply_code(login) >= 500) tally_.fail(client_.address + " AUTH: " + login);
                    return nullptr;
                }
            }
            return connection;
        } catch (const std::exception&) {
            return nullptr;
        }
    }

    Outcome transaction(RawSmtpClient& connection, int message, int attempt) {
        const auto id = token(message, attempt);
        const auto sender = "app@" + client_.domain();
        try {
            const auto mail = connection.command("MAIL FROM:<" + sender + ">");
            if (client_.limited && mail.rfind("451 4.7.1", 0) == 0) {
                ++tally_.refused_by_limit;
                connection.command("RSET");
                return Outcome::refused_by_limit;
            }
            if (auto outcome = judge(mail, 250, id, "MAIL")) return *outcome;
            const auto to =
                "rcpt" + std::to_string(message) + "@dest" + std::to_string(message % 4) + ".test";
            if (auto outcome = judge(connection.command("RCPT TO:<" + to + ">"), 250, id, "RCPT"))
                return *outcome;
            if (auto outcome = judge(connection.command("DATA"), 354, id, "DATA")) return *outcome;
            const auto done = connection.command(
                "From: <" + sender + ">\r\nTo: <" + to + ">\r\nSubject: scale-out " + id +
                "\r\nMessage-ID: <" + id + "@" + client_.domain() + ">\r\n\r\nbody of " + id +
                "\r\nend of " + id + "\r\n.");
            if (auto outcome = judge(done, 250, id, "end of data")) return *outcome;
            const auto queue_id = queued_id(done);
            if (queue_id.empty()) tally_.fail(id + ": 250 without a queue id: " + done);
            tally_.acknowledge(message, attempt, queue_id);
            return Outcome::acknowledged;
        } catch (const std::exception&) {
            return Outcome::retry;  // the connection broke while sending
        }
    }

    // Nothing when the reply is the expected one. A lost connection (no reply) or a 4xx
    // is retried on a new connection; a 5xx is a failure of the test.
    std::optional<Outcome> judge(const std::string& reply, int expected, const std::string& id,
                                 const char* step) {
        const int code = reply_code(reply);
        if (code == expected) return std::nullopt;
        if (code >= 500) {
            tally_.fail(id + " at " + step + ": " + reply);
            return Outcome::failed;
        }
        if (code == 0) ++tally_.broken_connections;
        return Outcome::retry;
    }

    Client client_;
    std::uint16_t port_;
    std::vector<int> messages_;
    Tally& tally_;
    int per_connection_;
};

// One transaction the sink received.
struct Delivered {
    std::string token;
    std::string queue_id;   // from our Received: header ("id ...")
    std::string client_ip;  // the address literal in our Received: header
    std::string sent_from;  // the delivering process's source address (smtp-sink's X-Client-Addr)
    std::string sink_time;  // when smtp-sink took it (its own Received: header, in seconds)
};

// smtp-sink writes its dumps with bare LF line ends; CRs, should any be left, go first.
std::optional<Delivered> parse_dump(std::string dump) {
    std::erase(dump, '\r');
    static constexpr std::string_view subject_field = "\nSubject: scale-out ";
    const auto ours = dump.find("\tby relay.e2e.test (smarthost) with ");
    const auto received = dump.rfind("Received: from ", ours);
    const auto subject = dump.find(subject_field);
    if (ours == std::string::npos || received == std::string::npos || subject == std::string::npos)
        return std::nullopt;
    Delivered out;
    const auto token_start = subject + subject_field.size();
    out.token = dump.substr(token_start, dump.find('\n', token_start) - token_start);
    // Only a transaction the sink took whole counts: the body's last line is there.
    if (dump.find("\nend of " + out.token + "\n") == std::string::npos) return std::nullopt;
    const auto open = dump.find("([", received);
    const auto close = dump.find("])", received);
    if (open < ours && close < ours) out.client_ip = dump.substr(open + 2, close - open - 2);
    if (dump.rfind("X-Client-Addr: ", 0) == 0)
        out.sent_from = dump.substr(15, dump.find('\n') - 15);
    if (const auto sink = dump.find("(smtp-sink) with "); sink < ours) {
        const auto date = dump.find(";\n\t", sink);
        if (date < ours)
            out.sink_time = dump.substr(date + 3, dump.find('\n', date + 3) - date - 3);
    }
    const auto id_at = dump.find(" id ", ours);
    if (id_at != std::string::npos) out.queue_id = dump.substr(id_at + 4, 32);
    return out;
}

class ScaleOut : public ::testing::Test {
  protected:
    void TearDown() override {
        if (!HasFailure()) return;
        for (std::size_t i = 0; i < servers_.size(); ++i) {
            const auto log = servers_[i]->log();
            // The end of each log is where a failure shows; the start is 2,000 messages.
            std::cerr << "---- smarthost " << i << " log (tail) ----\n"
                      << log.substr(log.size() > 20000 ? log.size() - 20000 : 0) << '\n';
        }
    }

    void create_accounts() {
        for (const auto& client : clients()) {
            const auto id = db_.create_account(client.account);
            db_.add_sender_domain(id, client.domain());
            if (client.auth) {
                db_.exec(
                    "INSERT INTO credentials (account_id, username, secret_hash) VALUES ($1, $2, "
                    "$3)",
                    id, client.account, crypto::hash_password(k_password));
            } else {
                db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", id,
                         client.address + "/32");
            }
            if (client.limited)
                db_.exec("UPDATE accounts SET messages_per_hour = $1 WHERE id = $2", k_limit, id);
        }
    }

    // Each process delivers from its own address, so the sink tells them apart.
    static std::string delivery_address(int process) {
        return "127.0.0." + std::to_string(21 + process);
    }

    void start_processes(std::uint16_t sink_port) {
        for (int i = 0; i < k_processes; ++i) {
            ServerOptions options;
            std::string listener_keys;
            if (k_proxy_protocol)
                listener_keys = std::string("proxy_protocol = true\ntrusted_proxies = [\"") +
                                k_balancer_address + "/32\"]\n";
            options.listeners = {{"submission", "none", true, listener_keys}};
            options.roles = "smtp,delivery";
            options.allow_auth_without_tls = true;
            options.extra_toml =
                "[delivery]\nsource_address = \"" + delivery_address(i) +
                "\"\nlease_seconds = 5\npoll_seconds = 1\nfirst_retry_seconds = 1\n"
                "max_retry_seconds = 2\nretry_jitter = 0\nshutdown_grace_seconds = 10\n"
                "ipv6 = false\n[delivery.upstream]\nhost = \"127.0.0.3\"\nport = " +
                std::to_string(sink_port) +
                "\ntls = \"none\"\n[delivery.timeouts]\nconnect_seconds = 3\n"
                "[policy]\nsender_domain_verification = false\n";
            servers_.push_back(std::make_unique<SmarthostServer>(db_.url(), options));
        }
    }

    // Recipients a process holds leases on, as queue id of their message.
    std::set<std::string> claims_of(SmarthostServer& server) {
        std::set<std::string> out;
        const auto rows = db_.exec(
            "SELECT replace(message_id::text, '-', '') FROM recipients "
            "WHERE state = 'in_flight' AND lease_owner LIKE $1",
            "%:" + std::to_string(server.process().pid()) + ":%");
        for (const auto& row : rows)
            out.insert(*row[0]);
        return out;
    }

    std::string events_of(const std::string& queue_id) {
        std::string out;
        for (const auto& row : db_.exec(
                 "SELECT e.kind || ' ' || to_char(e.created_at, 'HH24:MI:SS.MS') || ' ' || "
                 "coalesce(e.reply, '') FROM events e WHERE e.message_id = $1::uuid ORDER BY e.id",
                 queue_id))
            out += "\n  " + *row[0];
        return out;
    }

    // Every process's log lines naming the queue id, for a duplicate nobody expected.
    std::string log_lines_about(const std::string& queue_id) {
        std::string out;
        for (std::size_t i = 0; i < servers_.size(); ++i) {
            std::istringstream log(servers_[i]->log());
            for (std::string line; std::getline(log, line);)
                if (line.find(queue_id) != std::string::npos)
                    out += "\n  [" + std::to_string(i) + "] " + line;
        }
        return out;
    }

    std::string database_clock() {
        return *db_.exec("SELECT to_char(clock_timestamp(), 'HH24:MI:SS.MS')")[0][0];
    }

    test::TestDatabase db_;
    std::vector<std::unique_ptr<SmarthostServer>> servers_;
};

TEST_F(ScaleOut, ThreeProcessesBehindABalancerSurviveAKillAndAStop) {
    const auto started = Clock::now();
    test::SmtpSink sink("127.0.0.3");
    create_accounts();  // before the processes start: they cache allow-list answers
    start_processes(sink.port());
    std::vector<std::uint16_t> ports;
    for (const auto& server : servers_)
        ports.push_back(server->port("submission"));
    test::ProxyForwarder::Options balancing;
    if (!k_proxy_protocol)
        balancing = {.header = test::ProxyForwarder::Header::none, .source_address = ""};
    test::ProxyForwarder balancer(ports, balancing);

    // The messages: the limited client's first, then the rest, each dealt out to the
    // threads of those clients in turn.
    const auto all_clients = clients();
    std::map<int, std::string> address_of;  // message -> client address
    std::vector<std::vector<int>> plans;
    std::vector<Client> plan_clients;
    auto deal = [&](bool limited, int first, int end) {
        const std::size_t first_plan = plans.size();
        for (const auto& client : all_clients) {
            if (client.limited != limited) continue;
            for (int t = 0; t < (limited ? k_limited_threads : k_threads_per_client); ++t) {
                plans.emplace_back();
                plan_clients.push_back(client);
            }
        }
        for (int message = first; message < end; ++message) {
            const auto plan = first_plan + static_cast<std::size_t>(message - first) %
                                               (plans.size() - first_plan);
            plans[plan].push_back(message);
            address_of[message] = plan_clients[plan].address;
        }
        return plans.size();
    };
    const std::size_t limited_threads = deal(true, 0, k_limited_attempts);
    deal(false, k_limited_attempts, k_messages);

    Tally tally;
    const auto deadline = Clock::now() + 120s;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        // The limited client connects for each message, so its transactions spread over
        // every process and the limit is held across all of them.
        const int per_connection = plan_clients[i].limited ? 1 : k_messages_per_connection;
        threads.emplace_back([&, i, per_connection] {
            ClientThread(plan_clients[i], balancer.port(), plans[i], tally, per_connection)
                .run(deadline);
        });
    }

    // A third acknowledged, and the limited client done (so no quota of its is stranded
    // in the killed process): SIGKILL process 0, as a crash would.
    ASSERT_TRUE(wait_until(
        "a third of the messages acknowledged",
        [&] { return tally.acknowledged_count >= k_messages / 3; }, 90s));
    for (std::size_t i = 0; i < limited_threads; ++i)
        threads[i].join();
    auto& killed = *servers_[0];
    const auto claimed_before_kill = claims_of(killed);
    killed.process().signal(SIGKILL);
    ASSERT_EQ(killed.process().wait(10s), 128 + SIGKILL);
    // Its recipients still leased now are those it may have delivered without recording
    // it: the survivors deliver them again once the lease has run out.
    const auto claimed_at_death = claims_of(killed);
    balancer.set_down(0, true);  // as a failed health check would
    const int acknowledged_at_kill = tally.acknowledged_count;
    const auto killed_at = database_clock();

    // Two thirds: SIGTERM process 1. It drains and exits 0; meanwhile its refused
    // connections send the balancer on to the survivor.
    ASSERT_TRUE(wait_until(
        "two thirds of the messages acknowledged",
        [&] { return tally.acknowledged_count >= 2 * k_messages / 3; }, 90s));
    auto& stopped = *servers_[1];
    stopped.process().signal(SIGTERM);
    const int acknowledged_at_stop = tally.acknowledged_count;
    const auto stopped_at = database_clock();
    EXPECT_EQ(stopped.process().wait(60s), 0);
    // A graceful stop finishes or releases its deliveries: it leaves no lease behind.
    const auto left_by_stopped = claims_of(stopped);
    EXPECT_TRUE(left_by_stopped.empty()) << left_by_stopped.size() << " recipients still leased";

    for (std::size_t i = limited_threads; i < threads.size(); ++i)
        threads[i].join();
    const auto sent = Clock::now();
    {
        std::lock_guard lock(tally.mutex);
        EXPECT_TRUE(tally.failures.empty())
            << tally.failures.size() << " failures, first " << tally.failures.front();
    }

    // Everything acknowledged becomes final (delivered) at the survivor, the killed
    // process's leases included once they run out.
    ASSERT_TRUE(wait_until(
        "every recipient delivered",
        [&] {
            return *db_.exec("SELECT count(*) FROM recipients WHERE state <> 'delivered'")[0][0] ==
                   "0";
        },
        60s))
        << *db_.exec(
               "SELECT string_agg(state || ':' || n, ', ') FROM (SELECT state, count(*) n "
               "FROM recipients GROUP BY state) s")[0][0];

    // What the sink received, by attempt token.
    std::map<std::string, std::vector<Delivered>> received;
    std::size_t transactions = 0;
    for (const auto& dump : sink.dumps()) {
        auto delivered = parse_dump(dump);
        if (!delivered) continue;
        ++transactions;
        received[delivered->token].push_back(*delivered);
    }

    // Every acknowledged message arrived, with the client's own address in Received:.
    std::set<int> acknowledged_messages;
    for (const auto& record : tally.acknowledged) {
        acknowledged_messages.insert(record.message);
        const auto id = token(record.message, record.attempt);
        const auto found = received.find(id);
        ASSERT_NE(found, received.end()) << "acknowledged " << id << " (queue id "
                                         << record.queue_id << ") never reached the sink";
        EXPECT_EQ(found->second.front().queue_id, record.queue_id) << id;
    }
    std::size_t wrong_address = 0;
    for (const auto& [id, copies] : received) {
        const int number = std::stoi(id.substr(1, id.find('.') - 1));
        for (const auto& copy : copies)
            if (copy.client_ip != address_of.at(number)) ++wrong_address;
    }
    EXPECT_EQ(wrong_address, 0u) << "Received: headers naming another address than the client's";

    // A stored message delivered twice is a duplicate of the relay's: only those the killed
    // process held leases on may be. A message the client sent again after a broken
    // connection is its own message (another token), counted as a client retry.
    std::size_t duplicates = 0, retried_messages_delivered_twice = 0;
    std::map<int, int> delivered_tokens_per_message;
    for (const auto& [id, copies] : received) {
        ++delivered_tokens_per_message[std::stoi(id.substr(1, id.find('.') - 1))];
        if (copies.size() < 2) continue;
        duplicates += copies.size() - 1;
        const auto& queue_id = copies.front().queue_id;
        std::string senders;
        bool one_from_killed = false;
        for (const auto& copy : copies) {
            senders += " " + copy.sent_from + " (" + copy.sink_time + ")";
            one_from_killed = one_from_killed || copy.sent_from == delivery_address(0);
        }
        const bool held_by_killed =
            claimed_before_kill.count(queue_id) || claimed_at_death.count(queue_id);
        EXPECT_TRUE(one_from_killed && held_by_killed)
            << id << " (queue id " << queue_id << ") was delivered " << copies.size()
            << " times, from" << senders << "; held by the killed process: " << held_by_killed
            << "; its events:" << events_of(queue_id) << "\nlogged:" << log_lines_about(queue_id);
    }
    for (const auto& [number, tokens] : delivered_tokens_per_message)
        if (tokens > 1) ++retried_messages_delivered_twice;
    std::set<std::string> killed_claims(claimed_before_kill.begin(), claimed_before_kill.end());
    killed_claims.insert(claimed_at_death.begin(), claimed_at_death.end());
    EXPECT_LE(duplicates, killed_claims.size());

    // The rate limit held across the processes: exactly the limit accepted in the window.
    const auto limited = all_clients.back();
    ASSERT_TRUE(limited.limited);
    const auto windows = db_.exec(
        "SELECT count(*) FROM messages m JOIN accounts a ON a.id = m.account_id "
        "WHERE a.name = $1 GROUP BY date_trunc('hour', m.received_at)",
        limited.account);
    int limited_accepted = 0;
    for (const auto& row : windows) {
        EXPECT_LE(std::stoi(*row[0]), k_limit);
        limited_accepted += std::stoi(*row[0]);
    }
    // In one hour window (a run across a full hour may legitimately get more in total).
    if (windows.size() == 1) {
        EXPECT_EQ(limited_accepted, k_limit);
    }
    EXPECT_EQ(tally.refused_by_limit, k_limited_attempts - limited_accepted);
    for (std::size_t backend = 0; backend < ports.size(); ++backend)
        EXPECT_GT(balancer.forwarded(backend, limited.address), 0u) << backend;

    // Messages stored, by the address the relay saw: only the clients'.
    const auto addresses =
        db_.exec("SELECT count(*) FROM messages WHERE host(client_ip) NOT LIKE '127.0.0.1_'");
    EXPECT_EQ(*addresses[0][0], "0") << "messages stored with another client address";

    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    std::cout << "scale-out: mode " << (k_proxy_protocol ? "PROXY v2" : "plain") << ", sent "
              << k_messages << " messages in " << tally.attempts << " attempts, acknowledged "
              << tally.acknowledged.size() << " (" << acknowledged_messages.size()
              << " distinct messages), refused by the limit " << tally.refused_by_limit
              << ", client retries " << tally.client_retries << ", broken connections "
              << tally.broken_connections << "\n"
              << "scale-out: SIGKILL at " << acknowledged_at_kill << " acknowledged with "
              << claimed_before_kill.size() << " recipients claimed before and "
              << claimed_at_death.size() << " at death (" << killed_at << "); SIGTERM at "
              << acknowledged_at_stop << " (" << stopped_at << ")"
              << "\n"
              << "scale-out: sink transactions " << transactions << ", distinct tokens delivered "
              << received.size() << ", duplicates " << duplicates
              << ", retried messages delivered twice " << retried_messages_delivered_twice << "\n"
              << "scale-out: per process connections " << balancer.forwarded(0) << "/"
              << balancer.forwarded(1) << "/" << balancer.forwarded(2) << ", sending took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(sent - started).count()
              << " ms, elapsed " << elapsed << " ms\n";
}

}  // namespace
}  // namespace smarthost::e2e
