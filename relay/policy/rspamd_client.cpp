#include "relay/policy/rspamd_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/span.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint32_t k_max_answer_header_bytes = 16 * 1024;

ScanFailure failure_of(const boost::system::error_code& error) {
    if (error == beast::error::timeout) return ScanFailure::timeout;
    if (error == http::error::body_limit || error == http::error::header_limit ||
        error == http::error::buffer_overflow)
        return ScanFailure::answer_too_large;
    return ScanFailure::io;
}

}  // namespace

asio::awaitable<RspamdReply> RspamdClient::check(const ScanEnvelope& envelope,
                                                 std::string_view message) const {
    const auto executor = co_await asio::this_coro::executor;
    const auto deadline = std::chrono::steady_clock::now() + settings_.timeout;
    beast::tcp_stream stream(executor);
    stream.expires_at(deadline);

    boost::system::error_code error;
    const auto address = asio::ip::make_address(settings_.host, error);
    if (!error) {
        const tcp::endpoint endpoint(address,
                                     static_cast<std::uint16_t>(std::stoul(settings_.port)));
        std::tie(error) =
            co_await stream.async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
    } else {
        tcp::resolver resolver(executor);
        auto [resolved, endpoints] = co_await resolver.async_resolve(
            settings_.host, settings_.port, asio::as_tuple(asio::use_awaitable));
        if (resolved || std::chrono::steady_clock::now() >= deadline)
            co_return RspamdReply{std::nullopt,
                                  resolved ? ScanFailure::unreachable : ScanFailure::timeout};
        stream.expires_at(deadline);
        std::tie(error, std::ignore) =
            co_await stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
    }
    if (error) {
        co_return RspamdReply{std::nullopt, error == beast::error::timeout
                                                ? ScanFailure::timeout
                                                : ScanFailure::unreachable};
    }

    http::request<http::span_body<const char>> request{http::verb::post, settings_.target, 11};
    request.set(http::field::host, settings_.host);
    request.set(http::field::connection, "close");
    for (auto& [name, value] : checkv2_fields(envelope))
        request.insert(name, value);
    request.body() = beast::span<const char>(message.data(), message.size());
    request.prepare_payload();
    std::tie(error, std::ignore) =
        co_await http::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
    if (error) co_return RspamdReply{std::nullopt, failure_of(error)};

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(k_max_answer_header_bytes);
    parser.body_limit(settings_.max_answer_bytes);
    std::tie(error, std::ignore) =
        co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (error) co_return RspamdReply{std::nullopt, failure_of(error)};
    stream.socket().shutdown(tcp::socket::shutdown_both, error);
    const auto& response = parser.get();
    if (response.result() != http::status::ok)
        co_return RspamdReply{std::nullopt, ScanFailure::bad_status};
    auto answer = parse_checkv2_answer(response.body());
    if (!answer) co_return RspamdReply{std::nullopt, ScanFailure::bad_answer};
    co_return RspamdReply{std::move(answer), ScanFailure::none};
}

}  // namespace smarthost::policy
