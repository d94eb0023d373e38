#include "tests/integration/admin-api/admin_api_fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <future>

#include "admin-api/tokens.hpp"
#include "core/crypto.hpp"
#include "tests/support/run_awaitable.hpp"

namespace smarthost::admin::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;

boost::json::value HttpReply::json() const {
    return json::parse(body);
}

std::string HttpReply::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
}

std::vector<std::string> HttpReply::error_fields() const {
    std::vector<std::string> fields;
    const auto value = json();
    if (const auto* errors = value.as_object().if_contains("errors"))
        for (const auto& error : errors->as_array())
            fields.emplace_back(error.at("field").as_string());
    return fields;
}

AdminServer::Settings AdminApiTest::settings() {
    AdminServer::Settings settings;
    settings.address = "127.0.0.1";
    settings.port = 0;
    settings.max_body_bytes = 64 * 1024;
    settings.idle_timeout = std::chrono::seconds(2);
    settings.request_timeout = std::chrono::seconds(2);
    return settings;
}

void AdminApiTest::SetUp() {
    crypto::init();
    pool = std::make_unique<pg::Pool>(io.get_executor(), pg::Pool::Settings{db.url(), 4, 5, 10});
    token = create_token("ops");
    server = std::make_unique<AdminServer>(io.get_executor(), *pool, settings());
    server->start();
    port = server->port();
    io.restart();
    work_.emplace(io.get_executor());
    thread_ = std::thread([this] { io.run(); });
}

void AdminApiTest::TearDown() {
    std::promise<void> stopped;
    asio::post(io, [&] {
        server->stop();
        stopped.set_value();
    });
    stopped.get_future().wait();
    work_.reset();
    io.stop();
    thread_.join();
    server.reset();
    pool.reset();
}

std::string AdminApiTest::create_token(const std::string& name) {
    if (thread_.joinable()) {
        // The server is running on io's thread: run the call there and wait for it.
        std::promise<Result<std::string>> made;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto result = co_await create_api_token(*pool, name);
                made.set_value(std::move(result));
            },
            asio::detached);
        auto result = made.get_future().get();
        EXPECT_TRUE(result) << result.error().message;
        return result ? *result : std::string();
    }
    auto result = smarthost::test::run_awaitable(io, create_api_token(*pool, name));
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : std::string();
}

HttpReply AdminApiTest::call(const HttpCall& call) {
    asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> request{http::string_to_verb(call.method), call.target, 11};
    request.method_string(call.method);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, call.authorization.value_or("Bearer " + token));
    if (call.authorization && call.authorization->empty())
        request.erase(http::field::authorization);
    if (call.body) {
        if (!call.content_type.empty()) request.set(http::field::content_type, call.content_type);
        request.body() = *call.body;
    }
    request.keep_alive(false);
    request.prepare_payload();
    http::write(socket, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    HttpReply reply;
    reply.status = response.result_int();
    for (const auto& field : response) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        reply.headers[name] = std::string(field.value());
    }
    reply.body = response.body();
    return reply;
}

std::int64_t AdminApiTest::create_account_via_api(const std::string& name) {
    const auto reply = post("/api/v1/accounts", R"({"name":")" + name + R"("})");
    EXPECT_EQ(reply.status, 201u) << reply.body;
    return reply.json().at("id").as_int64();
}

std::vector<std::string> AdminApiTest::audit_rows() {
    std::vector<std::string> rows;
    for (const auto& row :
         db.exec("SELECT token_name || ' ' || method || ' ' || path || ' ' || status "
                 "FROM audit_log ORDER BY id"))
        rows.push_back(*row.at(0));
    return rows;
}

std::string AdminApiTest::store_message(std::int64_t account_id, int serial,
                                        const std::string& sender,
                                        const std::vector<StoredRecipient>& recipients,
                                        const std::string& header_message_id, int age_seconds) {
    char id[33];
    std::snprintf(id, sizeof id, "0193000000007000800000%010d", serial);
    db.exec(
        "INSERT INTO messages (id, account_id, envelope_sender, client_ip, size_bytes, "
        "header_message_id, received_at, body) VALUES ($1::uuid, $2, $3, '192.0.2.10', 100, "
        "nullif($4, ''), now() - $5::int * interval '1 second', 'Subject: x\r\n\r\nx\r\n')",
        std::string(id), account_id, sender, header_message_id, age_seconds);
    db.exec(
        "INSERT INTO events (message_id, kind, created_at) "
        "VALUES ($1::uuid, 'accepted', now() - $2::int * interval '1 second')",
        std::string(id), age_seconds);
    for (const auto& recipient : recipients)
        db.exec(
            "INSERT INTO recipients (message_id, address, domain, state, attempts, last_reply, "
            "next_attempt_at, lease_owner, lease_expires_at) "
            "VALUES ($1::uuid, $2, split_part($2, '@', 2), $3, $4, nullif($5, ''), "
            "now() + interval '1 hour', CASE WHEN $3 = 'in_flight' THEN 'worker' END, "
            "CASE WHEN $3 = 'in_flight' THEN now() + interval '1 minute' END)",
            std::string(id), recipient.address, recipient.state, recipient.attempts,
            recipient.last_reply);
    return id;
}

}  // namespace smarthost::admin::test
