#pragma once
// An AdminServer on a loopback port over a throw-away database, with a valid token, and a
// small synchronous HTTP client (Beast) to talk to it.

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "admin-api/server.hpp"
#include "core/pg/pool.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::admin::test {

struct HttpReply {
    unsigned status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;

    boost::json::value json() const;
    std::string header(const std::string& name) const;
    // The "field" of each entry of a problem's "errors".
    std::vector<std::string> error_fields() const;
};

struct HttpCall {
    std::string method = "GET";
    std::string target;
    std::optional<std::string> body;
    std::string content_type = "application/json";
    std::optional<std::string> authorization;  // default: "Bearer <the fixture's token>"
};

class AdminApiTest : public ::testing::Test {
  protected:
    void SetUp() override;
    void TearDown() override;
    virtual AdminServer::Settings settings();

    HttpReply call(const HttpCall& call);
    HttpReply get(const std::string& target) {
        return call({"GET", target, {}, "application/json", {}});
    }
    HttpReply post(const std::string& target, std::optional<std::string> body = {}) {
        return call({"POST", target, std::move(body), "application/json", {}});
    }
    HttpReply patch(const std::string& target, std::string body) {
        return call({"PATCH", target, std::move(body), "application/json", {}});
    }
    HttpReply put(const std::string& target, std::string body) {
        return call({"PUT", target, std::move(body), "application/json", {}});
    }
    HttpReply del(const std::string& target) {
        return call({"DELETE", target, {}, "application/json", {}});
    }

    // Stores a new token directly through the library, as `smarthost token create` will.
    std::string create_token(const std::string& name);
    std::int64_t create_account_via_api(const std::string& name);
    // The audit rows as "token METHOD path status", oldest first.
    std::vector<std::string> audit_rows();

    struct StoredRecipient {
        StoredRecipient(std::string address_, std::string state_ = "queued", int attempts_ = 0,
                        std::string last_reply_ = {})
            : address(std::move(address_)),
              state(std::move(state_)),
              attempts(attempts_),
              last_reply(std::move(last_reply_)) {}
        std::string address;
        std::string state;
        int attempts;
        std::string last_reply;
    };
    // Stores a message as the SMTP side would (with an 'accepted' event), `age_seconds`
    // old, and returns its id as the API shows it (32 hex digits). Ids grow with `serial`,
    // so tests control the newest-first order.
    std::string store_message(std::int64_t account_id, int serial, const std::string& sender,
                              const std::vector<StoredRecipient>& recipients,
                              const std::string& header_message_id = "", int age_seconds = 0);

    smarthost::test::TestDatabase db;
    boost::asio::io_context io;
    std::unique_ptr<pg::Pool> pool;
    std::unique_ptr<AdminServer> server;
    std::string token;
    unsigned short port = 0;

  private:
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread thread_;
};

}  // namespace smarthost::admin::test
