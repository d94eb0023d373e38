// Outbound content scanning end to end (docs/scanning.md): the real binary asks a real
// rspamd on loopback (tests/e2e/rspamd.hpp) at the final dot. GTUBE is rejected with
// 550 5.7.1, or held for review when the account's thresholds say hold; a normal message
// passes with its score in tracking; rspamd stopped or silent, the message is accepted
// unscanned (fail-open) and smarthost_scan_failures_total counts it.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <memory>
#include <thread>

#include "tests/e2e/admin_http.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/e2e/rspamd.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/unreachable_server.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace json = boost::json;

std::string message(const std::string& subject, const std::string& body) {
    return "From: Alice <alice@customer.example>\r\nTo: bob@example.org\r\nSubject: " + subject +
           "\r\nDate: Mon, 7 Dec 2026 05:00:00 +0000\r\nMessage-ID: <" + subject +
           "@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + body +
           "\r\n";
}

// The value of one series in a scrape; -1 when it is absent.
double series_value(const std::string& scrape, const std::string& series) {
    const auto at = scrape.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(scrape.substr(at + series.size() + 2));
}

// A hostile stand-in for rspamd on loopback: it reads each request whole and answers the
// next of `answers` (raw HTTP), one connection each.
class HostileScanner {
  public:
    explicit HostileScanner(std::vector<std::string> answers)
        : acceptor_(io_, {boost::asio::ip::address_v4::loopback(), 0}),
          thread_([this, answers = std::move(answers)] { serve(answers); }) {}
    ~HostileScanner() {
        io_.stop();
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        thread_.join();
    }
    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }

  private:
    void serve(const std::vector<std::string>& answers) {
        for (const auto& answer : answers) {
            boost::system::error_code error;
            boost::asio::ip::tcp::socket socket(io_);
            acceptor_.accept(socket, error);
            if (error) return;
            boost::asio::streambuf request;
            boost::asio::read_until(socket, request, "\r\n\r\n", error);
            std::string head(boost::asio::buffers_begin(request.data()),
                             boost::asio::buffers_end(request.data()));
            const auto length_at = head.find("Content-Length: ");
            const auto body_at = head.find("\r\n\r\n") + 4;
            if (length_at != std::string::npos) {
                const auto length = std::stoul(head.substr(length_at + 16));
                if (head.size() - body_at < length)
                    boost::asio::read(
                        socket, request,
                        boost::asio::transfer_exactly(length - (head.size() - body_at)), error);
            }
            boost::asio::write(socket, boost::asio::buffer(answer), error);
        }
    }

    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::thread thread_;
};

std::string http_answer(const std::string& status, const std::string& body) {
    return "HTTP/1.1 " + status +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

class ContentScanning : public ::testing::Test {
  protected:
    void TearDown() override {
        if (HasFailure() && server_) std::cerr << "---- smarthost log ----\n" << server_->log();
        if (HasFailure() && rspamd_) std::cerr << "---- rspamd log ----\n" << rspamd_->log();
    }

    // `scanning` is the [scanning] section's keys.
    void start(const std::string& scanning) {
        account_id_ = db_.create_account("customer");
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, '127.0.0.0/8')",
                 account_id_);
        db_.add_sender_domain(account_id_, "customer.example");
        ServerOptions options;
        options.listeners = {{"submission", "none"}};
        options.roles = "smtp,admin";
        options.extra_toml =
            "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port_) +
            "\"\n[metrics]\naddress = \"127.0.0.1:" + std::to_string(metrics_port_) +
            "\"\n[policy]\naccount_cache_ms = 0\n" + "[scanning]\n" + scanning;
        server_ = std::make_unique<SmarthostServer>(db_.url(), options);
        ASSERT_TRUE(wait_for_port("the admin listener", "127.0.0.1", admin_port_, 10s));
        const auto token = server_->subcommand({"token", "create", "--name", "ops"});
        ASSERT_EQ(token.exit_code, 0) << token.output;
        token_ = token.output.substr(0, token.output.find('\n'));
    }

    CommandResult submit(const std::string& data) {
        TempDir dir;
        const auto file = dir.path() / "message.eml";
        std::ofstream(file, std::ios::binary) << data;
        return swaks({"--server", "127.0.0.1:" + std::to_string(server_->port("submission")),
                      "--from", "alice@customer.example", "--to", "bob@example.org", "--data",
                      file.string()});
    }

    std::string scrape() {
        const auto result =
            run_command({"curl", "-sS", "--max-time", "10",
                         "http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics"});
        return result.output;
    }

    HttpResult api(const std::string& method, const std::string& path,
                   const std::string& body = {}) {
        return http(method, admin_port_, path, token_, body);
    }

    std::string account_path() const { return "/api/v1/accounts/" + std::to_string(account_id_); }

    test::TestDatabase db_;
    std::int64_t account_id_ = 0;
    std::uint16_t admin_port_ = free_port();
    std::uint16_t metrics_port_ = free_port();
    std::string token_;
    std::unique_ptr<Rspamd> rspamd_;
    std::unique_ptr<SmarthostServer> server_;
};

TEST_F(ContentScanning, GtubeIsRejectedWith550AndNormalMailPassesWithItsScore) {
    rspamd_ = std::make_unique<Rspamd>();
    start("rspamd_url = \"" + rspamd_->url() + "\"\n");

    const auto spam = submit(message("gtube", k_gtube));
    EXPECT_NE(spam.output.find("550 5.7.1 Message rejected: its content was classified as spam"),
              std::string::npos)
        << spam.output;
    EXPECT_TRUE(queued_id(spam.output).empty());
    EXPECT_EQ(db_.exec("SELECT count(*) FROM messages")[0][0], "0");
    EXPECT_TRUE(wait_until("the rejection is recorded", [&] {
        return db_.exec(
                   "SELECT count(*) FROM rejections WHERE account_id = $1 AND reason = "
                   "'content_scan'",
                   account_id_)[0][0] == "1";
    }));

    const auto ham = submit(message("hello", "Your order has shipped.\r\n\r\n-- \r\nThe shop"));
    const auto id = queued_id(ham.output);
    ASSERT_FALSE(id.empty()) << ham.output;
    const auto row = db_.exec(
        "SELECT scan_action, scan_score IS NOT NULL, jsonb_typeof(scan_symbols), "
        "(SELECT string_agg(state, ',') FROM recipients WHERE message_id = m.id), "
        "position('X-Spam' in convert_from(body, 'UTF8')) FROM messages m");
    ASSERT_EQ(row.size(), 1U);
    EXPECT_EQ(row[0][0], "accept");
    EXPECT_EQ(row[0][1], "t");
    EXPECT_EQ(row[0][2], "object");
    EXPECT_EQ(row[0][3], "queued");
    EXPECT_EQ(row[0][4], "0");  // below add_header_score: no X-Spam fields

    const auto tracked = api("GET", "/api/v1/messages/" + id);
    ASSERT_EQ(tracked.status, 200) << tracked.text;
    const auto& scan = tracked.body.at("scan");
    EXPECT_EQ(scan.at("action").as_string(), "accept");
    EXPECT_TRUE(scan.at("score").is_number());
    EXPECT_TRUE(scan.at("symbols").is_object());

    const auto metrics = scrape();
    EXPECT_EQ(series_value(metrics, "smarthost_scan_results_total{action=\"reject\"}"), 1);
    EXPECT_EQ(series_value(metrics, "smarthost_scan_results_total{action=\"accept\"}"), 1);
    EXPECT_EQ(series_value(metrics, "smarthost_messages_rejected_total{reason=\"content_scan\"}"),
              1);
}

TEST_F(ContentScanning, ARejectionIsRecordedWithTheSubUserItWasSentAs) {
    rspamd_ = std::make_unique<Rspamd>();
    start("rspamd_url = \"" + rspamd_->url() + "\"\n");
    // The anomaly rule scan_rejects holds the sub-user whose messages rspamd refuses.
    db_.exec("UPDATE accounts SET sub_user_header = 'X-AuthUser' WHERE id = $1", account_id_);

    const auto spam = submit("X-AuthUser: blog1\r\n" + message("gtube", k_gtube));
    EXPECT_NE(spam.output.find("550 5.7.1"), std::string::npos) << spam.output;
    EXPECT_TRUE(wait_until("the rejection is recorded with its sub-user", [&] {
        return db_.exec(
                   "SELECT count(*) FROM rejections WHERE account_id = $1 AND reason = "
                   "'content_scan' AND sub_user = 'blog1' AND credential_id IS NULL",
                   account_id_)[0][0] == "1";
    }));
}

TEST_F(ContentScanning, GtubeIsHeldForReviewWhenTheAccountsThresholdSaysHold) {
    rspamd_ = std::make_unique<Rspamd>();
    start("rspamd_url = \"" + rspamd_->url() + "\"\n");

    // Bad thresholds get a 422 naming the field; nothing changes.
    auto bad = api("PATCH", account_path(), R"({"scanning":{"hold_score":"high"}})");
    EXPECT_EQ(bad.status, 422) << bad.text;
    EXPECT_NE(bad.text.find("scanning.hold_score"), std::string::npos) << bad.text;
    bad = api("PATCH", account_path(), R"({"scanning":{"hold_score":20,"reject_score":10}})");
    EXPECT_EQ(bad.status, 422) << bad.text;
    EXPECT_NE(bad.text.find("scanning.reject_score"), std::string::npos) << bad.text;

    auto changed =
        api("PATCH", account_path(), R"({"scanning":{"hold_score":10,"reject_score":100}})");
    ASSERT_EQ(changed.status, 200) << changed.text;
    EXPECT_EQ(changed.body.at("scanning").at("hold_score").to_number<double>(), 10);
    EXPECT_TRUE(changed.body.at("scanning").at("add_header_score").is_null());
    // Against the stored values: add_header above the stored hold is refused.
    bad = api("PATCH", account_path(), R"({"scanning":{"add_header_score":50}})");
    EXPECT_EQ(bad.status, 422) << bad.text;
    EXPECT_NE(bad.text.find("scanning"), std::string::npos) << bad.text;

    const auto held = submit(message("gtube", k_gtube));
    const auto id = queued_id(held.output);
    ASSERT_FALSE(id.empty()) << held.output;
    const auto row = db_.exec(
        "SELECT scan_action, scan_score, "
        "(SELECT string_agg(state, ',') FROM recipients WHERE message_id = m.id), "
        "(SELECT reply FROM events WHERE message_id = m.id AND kind = 'held'), "
        "position('X-Spam-Score: 15.00' in convert_from(body, 'UTF8')) FROM messages m");
    ASSERT_EQ(row.size(), 1U);
    EXPECT_EQ(row[0][0], "hold");
    EXPECT_EQ(row[0][1], "15");
    EXPECT_EQ(row[0][2], "held");
    EXPECT_EQ(row[0][3], "held for review: spam score 15.00 reached the hold threshold 10.00");
    EXPECT_EQ(row[0][4], "1");  // the fields are first in the stored message

    // The per-message release route lets it go.
    const auto released = api("POST", "/api/v1/messages/" + id + "/release");
    ASSERT_EQ(released.status, 200) << released.text;
    EXPECT_EQ(db_.exec("SELECT string_agg(state, ',') FROM recipients")[0][0], "queued");
}

TEST_F(ContentScanning, RspamdStoppedTheMessageIsAcceptedUnscannedAndCounted) {
    rspamd_ = std::make_unique<Rspamd>();
    start("rspamd_url = \"" + rspamd_->url() + "\"\n");
    ASSERT_FALSE(queued_id(submit(message("before", "Hello.")).output).empty());
    rspamd_->stop();

    const auto sent = submit(message("gtube", k_gtube));
    const auto id = queued_id(sent.output);
    ASSERT_FALSE(id.empty()) << sent.output;
    EXPECT_EQ(db_.exec("SELECT scan_action IS NULL FROM messages WHERE id = $1::uuid", id)[0][0],
              "t");
    EXPECT_EQ(api("GET", "/api/v1/messages/" + id).body.at("scan"), json::value(nullptr));
    EXPECT_EQ(series_value(scrape(), "smarthost_scan_failures_total{reason=\"unreachable\"}"), 1);
}

TEST_F(ContentScanning, SilentRspamdTheMessageIsAcceptedAfterTheTimeout) {
    test::SilentServer silent;  // completes connections, never answers
    const auto url = silent.url();
    const auto port = url.substr(url.rfind(':') + 1, url.rfind('/') - url.rfind(':') - 1);
    start("rspamd_url = \"http://127.0.0.1:" + port + "\"\ntimeout_ms = 700\n");

    const auto started = Clock::now();
    const auto sent = submit(message("gtube", k_gtube));
    const auto waited = Clock::now() - started;
    ASSERT_FALSE(queued_id(sent.output).empty()) << sent.output;
    EXPECT_GE(waited, 700ms);
    EXPECT_LT(waited, 10s);
    EXPECT_EQ(series_value(scrape(), "smarthost_scan_failures_total{reason=\"timeout\"}"), 1);
}

TEST_F(ContentScanning, HostileAnswersAreFailuresAndTheMessagesAreAcceptedUnscanned) {
    const std::string huge = R"({"score":-50,"symbols":{"X":{"score":1,"description":")" +
                             std::string(4096, 'a') + R"("}}})";
    HostileScanner hostile({http_answer("200 OK", R"({"score":"-50","action":"no action"})"),
                            http_answer("200 OK", huge),
                            http_answer("500 Internal Server Error", R"({"score":-50})"),
                            "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{"});
    start("rspamd_url = \"" + hostile.url() + "\"\nmax_answer_bytes = 1024\ntimeout_ms = 1000\n");
    for (int i = 0; i < 4; ++i) {
        const auto sent = submit(message("hostile" + std::to_string(i), k_gtube));
        ASSERT_FALSE(queued_id(sent.output).empty()) << sent.output;
    }
    EXPECT_EQ(db_.exec("SELECT count(*) FROM messages WHERE scan_action IS NULL")[0][0], "4");
    const auto metrics = scrape();
    EXPECT_EQ(series_value(metrics, "smarthost_scan_failures_total{reason=\"bad_answer\"}"), 1);
    EXPECT_EQ(series_value(metrics, "smarthost_scan_failures_total{reason=\"answer_too_large\"}"),
              2);
    EXPECT_EQ(series_value(metrics, "smarthost_scan_failures_total{reason=\"bad_status\"}"), 1);
}

TEST_F(ContentScanning, AnAccountWithScanningOffIsNotScanned) {
    rspamd_ = std::make_unique<Rspamd>();
    start("rspamd_url = \"" + rspamd_->url() + "\"\n");
    const auto off = api("PATCH", account_path(), R"({"scanning":{"enabled":false}})");
    ASSERT_EQ(off.status, 200) << off.text;
    EXPECT_FALSE(off.body.at("scanning").at("enabled").as_bool());

    const auto sent = submit(message("gtube", k_gtube));
    ASSERT_FALSE(queued_id(sent.output).empty()) << sent.output;
    EXPECT_EQ(db_.exec("SELECT scan_action IS NULL FROM messages")[0][0], "t");
}

}  // namespace
}  // namespace smarthost::e2e
