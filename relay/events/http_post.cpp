#include "relay/events/http_post.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "relay/events/webhook_url.hpp"

namespace smarthost::events {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto k_use = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t k_max_answer_header_bytes = 16 * 1024;

std::string host_header(const WebhookUrl& url) {
    std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    if (url.port != (url.https ? 443 : 80)) host += ":" + std::to_string(url.port);
    return host;
}

http::request<http::string_body> make_request(http::verb method, const WebhookUrl& url,
                                              const HeaderList& headers, const std::string& body) {
    http::request<http::string_body> request{method, url.target, 11};
    request.set(http::field::host, host_header(url));
    request.set(http::field::user_agent, "smarthost-webhooks");
    if (method == http::verb::post) request.set(http::field::content_type, "application/json");
    request.set(http::field::connection, "close");
    for (const auto& [name, value] : headers)
        request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    return request;
}

// Writes the request and reads the answer's status on an open stream.
template <class Stream>
asio::awaitable<PostAnswer> exchange(Stream& stream, http::request<http::string_body>& request,
                                     Clock::time_point deadline) {
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [write_error, written] = co_await http::async_write(stream, request, k_use);
    (void)written;
    if (write_error) co_return PostAnswer{std::nullopt, "sending: " + write_error.message()};
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(k_max_answer_header_bytes);
    parser.body_limit(k_max_answer_bytes);
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [read_error, read] = co_await http::async_read(stream, buffer, parser, k_use);
    (void)read;
    // A status line read is an answer, even when the body then was too long or cut short.
    if (parser.is_header_done()) {
        PostAnswer answer{parser.get().result_int(), {}};
        answer.content_type = std::string(parser.get()[http::field::content_type]);
        answer.complete = !read_error && parser.is_done();
        if (answer.complete) answer.body = std::move(parser.get().body());
        co_return answer;
    }
    co_return PostAnswer{std::nullopt, "reading the answer: " + read_error.message()};
}

asio::awaitable<PostAnswer> post_to(const WebhookUrl& url, const std::string& address,
                                    http::request<http::string_body>& request,
                                    asio::ssl::context& tls, Clock::time_point deadline) {
    boost::system::error_code parse_error;
    const auto ip = asio::ip::make_address(address, parse_error);
    if (parse_error) co_return PostAnswer{std::nullopt, "not an address: " + address};
    const tcp::endpoint endpoint(ip, url.port);
    auto executor = co_await asio::this_coro::executor;
    if (!url.https) {
        beast::tcp_stream stream(executor);
        stream.expires_at(deadline);
        auto [connect_error] = co_await stream.async_connect(endpoint, k_use);
        if (connect_error)
            co_return PostAnswer{std::nullopt,
                                 "connecting to " + address + ": " + connect_error.message()};
        auto answer = co_await exchange(stream, request, deadline);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return answer;
    }
    beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_at(deadline);
    auto [connect_error] = co_await tcp_layer.async_connect(endpoint, k_use);
    if (connect_error)
        co_return PostAnswer{std::nullopt,
                             "connecting to " + address + ": " + connect_error.message()};
    // SNI and the name the certificate must carry: the URL's host (RFC 6125).
    if (!url.host_is_address && !SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()))
        co_return PostAnswer{std::nullopt, "TLS: cannot set the server name"};
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
    auto [handshake_error] = co_await stream.async_handshake(asio::ssl::stream_base::client, k_use);
    if (handshake_error)
        co_return PostAnswer{std::nullopt,
                             "TLS with " + address + ": " + handshake_error.message()};
    auto answer = co_await exchange(stream, request, deadline);
    tcp_layer.expires_at(deadline);
    auto [shutdown_error] = co_await stream.async_shutdown(k_use);
    (void)shutdown_error;  // many servers close without close_notify
    co_return answer;
}

asio::awaitable<PostAnswer> send(http::verb method, const WebhookUrl& url,
                                 const std::vector<std::string>& addresses,
                                 const HeaderList& headers, const std::string& body,
                                 asio::ssl::context& tls, Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    auto request = make_request(method, url, headers, body);
    PostAnswer answer{std::nullopt, "no address to connect to"};
    for (const auto& address : addresses) {
        if (Clock::now() >= deadline) break;
        answer = co_await post_to(url, address, request, tls, deadline);
        // Only a connection that failed tries the next address: a request that was sent
        // may have been acted on.
        if (answer.status || !answer.error.starts_with("connecting")) break;
    }
    co_return answer;
}

}  // namespace

asio::awaitable<PostAnswer> post(const WebhookUrl& url, const std::vector<std::string>& addresses,
                                 const HeaderList& headers, const std::string& body,
                                 asio::ssl::context& tls, Clock::duration timeout) {
    auto answer = co_await send(http::verb::post, url, addresses, headers, body, tls, timeout);
    co_return answer;
}

asio::awaitable<PostAnswer> get(const WebhookUrl& url, const std::vector<std::string>& addresses,
                                const HeaderList& headers, asio::ssl::context& tls,
                                Clock::duration timeout) {
    const std::string no_body;
    auto answer = co_await send(http::verb::get, url, addresses, headers, no_body, tls, timeout);
    co_return answer;
}

}  // namespace smarthost::events
