// HTTP behaviour of the admin server: routing errors, bodies, keep-alive, timeouts.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

using AdminServerTest = AdminApiTest;

TEST_F(AdminServerTest, UnknownPathIs404Problem) {
    const auto reply = get("/api/v1/nothing-here");
    EXPECT_EQ(reply.status, 404u);
    EXPECT_EQ(reply.header("content-type"), "application/problem+json");
    EXPECT_EQ(reply.json().at("status").as_int64(), 404);
}

TEST_F(AdminServerTest, WrongMethodIs405WithAllow) {
    const auto reply = call({"PUT", "/api/v1/accounts/1", "{}", "application/json", {}});
    EXPECT_EQ(reply.status, 405u);
    EXPECT_EQ(reply.header("allow"), "GET, PATCH, DELETE");
}

TEST_F(AdminServerTest, NonNumericIdIs404) {
    EXPECT_EQ(get("/api/v1/accounts/abc").status, 404u);
}

TEST_F(AdminServerTest, NonJsonBodyIs415) {
    const auto reply = call({"POST", "/api/v1/accounts", R"({"name":"a"})", "text/plain", {}});
    EXPECT_EQ(reply.status, 415u);
}

TEST_F(AdminServerTest, MalformedJsonIs400) {
    const auto reply = post("/api/v1/accounts", R"({"name": )");
    EXPECT_EQ(reply.status, 400u);
    EXPECT_EQ(reply.header("content-type"), "application/problem+json");
}

TEST_F(AdminServerTest, OversizedBodyIs413) {
    // Declared length over the limit: refused from the header, before the body is read.
    tcp::iostream stream("127.0.0.1", std::to_string(port));
    stream << "POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " << token
           << "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{}";
    stream.flush();
    std::string status_line;
    std::getline(stream, status_line);
    EXPECT_TRUE(status_line.starts_with("HTTP/1.1 413")) << status_line;
}

TEST_F(AdminServerTest, OversizedChunkedBodyIs413) {
    asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    std::string request =
        "POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
        "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk(40 * 1024, 'x');
    for (int i = 0; i < 2; ++i)
        request += "A000\r\n" + chunk + "\r\n";
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(request), ec);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(response.result_int(), 413u);
}

TEST_F(AdminServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    beast::flat_buffer buffer;
    for (int i = 0; i < 3; ++i) {
        http::request<http::string_body> request{http::verb::get, "/api/v1/accounts", 11};
        request.set(http::field::host, "x");
        request.set(http::field::authorization, "Bearer " + token);
        http::write(socket, request);
        http::response<http::string_body> response;
        http::read(socket, buffer, response);
        EXPECT_EQ(response.result_int(), 200u);
        EXPECT_TRUE(response.keep_alive());
    }
}

TEST_F(AdminServerTest, SlowClientIsDisconnected) {
    asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    asio::write(socket, asio::buffer(std::string("GET /api/v1/accounts HTTP/1.1\r\nHost: x\r\n")));
    const auto started = std::chrono::steady_clock::now();
    char byte;
    boost::system::error_code ec;
    asio::read(socket, asio::buffer(&byte, 1), ec);  // blocks until the server closes
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(AdminServerTest, ResponsesAreNotCached) {
    EXPECT_EQ(get("/api/v1/accounts").header("cache-control"), "no-store");
}

}  // namespace
}  // namespace smarthost::admin::test
