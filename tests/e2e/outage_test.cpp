// Contract 1 end to end: PostgreSQL is stopped (as a crash would, -m immediate) and
// started again while clients keep sending. Clients get 4xx while it is down, the relay
// keeps running and recovers, and every message it acknowledged is in the database.

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "core/pg/migrations.hpp"
#include "tests/e2e/harness.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;

// A PostgreSQL cluster of the test's own, so stopping it disturbs no other test.
class PrivatePostgres {
  public:
    PrivatePostgres() : port_(free_port()) {
        const auto bin = std::string("/usr/lib/postgresql/15/bin/");
        if (::geteuid() == 0) run_command({"chown", "postgres:", dir_.path().string()});
        const auto result =
            as_owner({bin + "initdb", "-D", data(), "-A", "trust", "-U", "smarthost", "--no-sync"});
        if (result.exit_code != 0) throw std::runtime_error("initdb failed: " + result.output);
        start();
    }
    ~PrivatePostgres() { pg_ctl({"stop", "-m", "immediate"}); }

    std::string url() const {
        return "postgresql://smarthost@127.0.0.1:" + std::to_string(port_) + "/postgres";
    }
    void start() {
        // The postmaster outlives pg_ctl and would hold a pipe open: its output goes to a file.
        std::vector<std::string> argv{"/usr/lib/postgresql/15/bin/pg_ctl",
                                      "-D",
                                      data(),
                                      "start",
                                      "-w",
                                      "-t",
                                      "60",
                                      "-l",
                                      (dir_.path() / "postgresql.log").string(),
                                      "-o",
                                      "-p " + std::to_string(port_) + " -k " +
                                          dir_.path().string() + " -c listen_addresses=127.0.0.1"};
        if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
        Process pg_ctl(argv, dir_.path() / "pg_ctl.log");
        if (pg_ctl.wait(std::chrono::seconds(90)) != 0)
            throw std::runtime_error("pg_ctl start failed, see " +
                                     (dir_.path() / "pg_ctl.log").string());
    }
    void crash() { pg_ctl({"stop", "-m", "immediate"}); }
    CommandResult psql(const std::string& sql) const {
        return run_command({"psql", url(), "-v", "ON_ERROR_STOP=1", "-tAc", sql});
    }

  private:
    TempDir dir_;
    std::uint16_t port_;

    std::string data() const { return (dir_.path() / "data").string(); }
    CommandResult as_owner(std::vector<std::string> argv) const {
        if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
        return run_command(argv);
    }
    CommandResult pg_ctl(std::vector<std::string> args) const {
        std::vector<std::string> argv{"/usr/lib/postgresql/15/bin/pg_ctl", "-D", data()};
        argv.insert(argv.end(), args.begin(), args.end());
        return as_owner(argv);
    }
};

struct Attempt {
    int reply = 0;  // final reply code, 0 when the connection failed
    std::string id;
};

// One complete transaction from the allow-listed address.
Attempt send_one(std::uint16_t port, int n) {
    Attempt attempt;
    try {
        RawSmtpClient client(port, "127.0.0.2");
        auto greeting = client.reply();
        attempt.reply = reply_code(greeting);
        if (attempt.reply != 220) return attempt;
        client.command("EHLO app.customer.example");
        // Without the database the refusal may come at MAIL (account policy) or RCPT.
        for (const auto& command : {std::string("MAIL FROM:<app@customer.example>"),
                                    "RCPT TO:<r" + std::to_string(n) + "@example.org>"}) {
            attempt.reply = reply_code(client.command(command));
            if (attempt.reply != 250) return attempt;
        }
        const auto data = reply_code(client.command("DATA"));
        if (data != 354) {
            attempt.reply = data;
            return attempt;
        }
        const auto reply = client.command(
            "From: app@customer.example\r\nSubject: " + std::to_string(n) + "\r\n\r\nbody\r\n.");
        attempt.reply = reply_code(reply);
        attempt.id = queued_id(reply);
        client.command("QUIT");
    } catch (const std::exception&) {
        attempt.reply = 0;
    }
    return attempt;
}

TEST(DatabaseOutage, ClientsGet4xxWhileDownAndNothingAcknowledgedIsLost) {
    PrivatePostgres postgres;
    auto migrated = pg::migrate(postgres.url());
    ASSERT_TRUE(migrated.ok()) << migrated.error().message;
    auto setup = postgres.psql(
        "WITH a AS (INSERT INTO accounts (name) VALUES ('customer') RETURNING id), "
        "d AS (INSERT INTO sender_domains (account_id, domain, status, verification_token) "
        "SELECT id, 'customer.example', 'verified', 'outage' FROM a) "
        "INSERT INTO allowed_networks (account_id, network) SELECT id, '127.0.0.2/32' FROM a");
    ASSERT_EQ(setup.exit_code, 0) << setup.output;

    ServerOptions options;
    options.listeners = {{"submission", "none", true}};
    SmarthostServer server(postgres.url(), options);
    const auto port = server.port("submission");

    std::vector<std::string> acknowledged;
    int before = 0, during_refused = 0, after = 0, n = 0;
    for (; n < 10; ++n) {
        auto a = send_one(port, n);
        ASSERT_EQ(a.reply, 250) << server.log();
        acknowledged.push_back(a.id);
        ++before;
    }

    postgres.crash();
    for (int i = 0; i < 10; ++i, ++n) {
        auto a = send_one(port, n);
        // While PostgreSQL is down nothing may be acknowledged, and the client is told to
        // come back later (4xx), never refused for good.
        ASSERT_NE(a.reply, 250) << "acknowledged without a database";
        ASSERT_GE(a.reply, 400);
        ASSERT_LT(a.reply, 500) << a.reply;
        ++during_refused;
    }
    ASSERT_TRUE(server.process().running()) << server.log();

    postgres.start();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (after < 10 && std::chrono::steady_clock::now() < deadline) {
        auto a = send_one(port, n++);
        if (a.reply == 250) {
            acknowledged.push_back(a.id);
            ++after;
        } else {
            ASSERT_GE(a.reply, 400);
            ASSERT_LT(a.reply, 500);
            std::this_thread::sleep_for(100ms);
        }
    }
    ASSERT_EQ(after, 10) << "the relay did not recover:\n" << server.log();

    for (const auto& id : acknowledged) {
        auto row = postgres.psql("SELECT count(*) FROM recipients WHERE message_id = '" + id + "'");
        ASSERT_EQ(row.exit_code, 0) << row.output;
        EXPECT_EQ(row.output, "1\n") << "acknowledged message " << id << " is missing";
    }
    EXPECT_EQ(before, 10);
    EXPECT_EQ(during_refused, 10);
}

}  // namespace
}  // namespace smarthost::e2e
