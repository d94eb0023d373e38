#include "admin-api/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <stdexcept>
#include <unordered_map>
#include <variant>

#include "admin-api/api_routes.hpp"
#include "admin-api/health_routes.hpp"
#include "admin-api/problem.hpp"
#include "admin-api/request_target.hpp"
#include "admin-api/tokens.hpp"
#include "core/crypto.hpp"
#include "core/metrics/metrics.hpp"
#include "core/spawn.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t k_header_limit = 16 * 1024;

// What the server knows of a request once its headers are in: the route to run and who
// asked, decided before a byte of the body is read.
struct Admitted {
    const Route* route = nullptr;
    std::vector<std::pair<std::string, std::string>> params;
    RequestTarget target;
    std::string token_name;
};

Request to_request(http::request<http::string_body>&& message, RequestTarget target) {
    Request request;
    request.method = std::string(message.method_string());
    request.path = std::move(target.path);
    request.query = std::move(target.query);
    request.content_type = std::string(message[http::field::content_type]);
    request.authorization = std::string(message[http::field::authorization]);
    request.body = std::move(message.body());
    return request;
}

// Sent without reading anything to a connection over max_connections: a 503 a client can
// read, at no cost to the server beyond one non-blocking write.
const std::string& too_many_connections_reply() {
    static const std::string reply = [] {
        const std::string body =
            R"({"type":"urn:smarthost:problem:too-many-connections",)"
            R"("title":"Service Unavailable","status":503,"detail":"too many connections"})";
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
               "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    return reply;
}

http::response<http::string_body> to_message(Response response, unsigned version, bool keep_alive) {
    http::response<http::string_body> message{static_cast<http::status>(response.status), version};
    message.set(http::field::server, "smarthost");
    // Responses carry one-time passwords: never let a proxy or browser keep them.
    message.set(http::field::cache_control, "no-store");
    if (!response.content_type.empty())
        message.set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers)
        message.set(name, value);
    message.body() = std::move(response.body);
    message.keep_alive(keep_alive);
    message.prepare_payload();
    return message;
}

}  // namespace

struct AdminServer::Impl : std::enable_shared_from_this<Impl> {
    asio::any_io_executor executor;
    pg::Pool& pool;
    Settings settings;
    tcp::acceptor acceptor;
    asio::thread_pool hash_pool;
    Router router;
    std::unordered_map<std::uint64_t, beast::tcp_stream*> connections;
    std::uint64_t next_connection = 0;
    // Connections accepted and not yet closed, counted from the accept (a spawned session
    // that has not run yet counts too).
    std::size_t open_connections = 0;

    Impl(asio::any_io_executor ex, pg::Pool& p, Settings s)
        : executor(ex),
          pool(p),
          settings(std::move(s)),
          acceptor(ex),
          hash_pool(settings.hash_threads) {
        if (settings.serve_api)
            router =
                api_router(ApiOptions{settings.verification_label, settings.verify_domain,
                                      settings.network_breadth, settings.refresh_domain_health,
                                      settings.dkim, settings.work_on_queue_job, settings.shaping});
        add_health_routes(router);
    }

    ~Impl() { hash_pool.join(); }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (acceptor.is_open()) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                spdlog::warn("admin api: accept failed: {}", ec.message());
                continue;
            }
            if (open_connections >= settings.max_connections) {
                refuse(std::move(socket));
                continue;
            }
            ++open_connections;
            asio::co_spawn(
                executor,
                [self, socket = std::move(socket)]() mutable {
                    return self->serve(std::move(socket));
                },
                [self](std::exception_ptr failure) {
                    --self->open_connections;
                    if (failure) report_task_failure("admin_connection", failure);
                });
        }
    }

    void refuse(tcp::socket socket) {
        metrics::global().admin_connections_refused.Increment();
        boost::system::error_code ignored;
        if (!settings.tls_context) {
            socket.non_blocking(true, ignored);
            socket.write_some(asio::buffer(too_many_connections_reply()), ignored);
        }
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        auto self = shared_from_this();
        std::shared_ptr<asio::ssl::context> tls;
        if (settings.tls_context) tls = settings.tls_context();
        if (tls) {
            beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
            const auto id = track(beast::get_lowest_layer(stream));
            stream.next_layer().expires_after(settings.request_timeout);
            auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
            if (!ec) co_await serve_connection(stream);
            untrack(id, beast::get_lowest_layer(stream));
        } else {
            beast::tcp_stream stream(std::move(socket));
            const auto id = track(stream);
            co_await serve_connection(stream);
            untrack(id, stream);
        }
    }

    // Open connections, so stop() can close them.
    std::uint64_t track(beast::tcp_stream& stream) {
        const auto id = next_connection++;
        connections.emplace(id, &stream);
        return id;
    }

    void untrack(std::uint64_t id, beast::tcp_stream& stream) {
        connections.erase(id);
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.socket().close(ignored);
    }

    template <class Stream>
    asio::awaitable<void> serve_connection(Stream& stream) {
        try {
            co_await serve_requests(stream);
        } catch (const std::exception& e) {
            spdlog::error("admin api: connection failed: {}", e.what());
        }
    }

    template <class Stream>
    asio::awaitable<void> serve_requests(Stream& stream) {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(settings.max_body_bytes);
            parser.header_limit(k_header_limit);
            beast::get_lowest_layer(stream).expires_after(settings.idle_timeout);
            auto [ec, ignored_bytes] =
                co_await http::async_read_header(stream, buffer, parser, use_tuple);
            if (ec) {
                co_await answer_read_error(stream, ec);
                co_return;
            }
            const auto version = parser.get().version();
            // The route and the token are settled on the headers alone: a caller without
            // a token never gets the server to read, buffer or parse a body.
            beast::get_lowest_layer(stream).expires_never();
            auto admission = co_await admit(parser.get());
            if (auto* refusal = std::get_if<Response>(&admission)) {
                // A body left unread would be taken for the next request: close instead.
                const bool keep_alive = parser.get().keep_alive() && parser.is_done();
                const bool sent = co_await send(stream, std::move(*refusal), version, keep_alive);
                if (!sent || !keep_alive) co_return;
                continue;
            }
            if (!parser.is_done()) {
                beast::get_lowest_layer(stream).expires_after(settings.request_timeout);
                std::tie(ec, ignored_bytes) =
                    co_await http::async_read(stream, buffer, parser, use_tuple);
                if (ec) {
                    co_await answer_read_error(stream, ec);
                    co_return;
                }
            }
            auto& admitted = std::get<Admitted>(admission);
            auto message = parser.release();
            const bool keep_alive = message.keep_alive();
            const auto request = to_request(std::move(message), std::move(admitted.target));
            // The handler's database work has its own deadlines.
            beast::get_lowest_layer(stream).expires_never();
            auto response = co_await handle(request, admitted);
            const bool sent = co_await send(stream, std::move(response), version, keep_alive);
            if (!sent || !keep_alive) co_return;
        }
    }

    // A request that could not be read whole: the peer left, took too long, sent more
    // than the body limit, or sent something that is not HTTP.
    template <class Stream>
    asio::awaitable<void> answer_read_error(Stream& stream, boost::system::error_code ec) {
        if (ec == http::error::body_limit) {
            co_await send(stream, problem::payload_too_large(settings.max_body_bytes), 11, false);
            co_return;
        }
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
            ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
            co_return;
        // Not HTTP we can answer in kind: say so once and close.
        Response bad;
        bad.status = 400;
        bad.content_type = "text/plain";
        bad.body = "bad request\n";
        co_await send(stream, std::move(bad), 11, false);
    }

    template <class Stream>
    asio::awaitable<bool> send(Stream& stream, Response response, unsigned version,
                               bool keep_alive) {
        auto message = to_message(std::move(response), version, keep_alive);
        beast::get_lowest_layer(stream).expires_after(settings.request_timeout);
        auto [ec, ignored_bytes] = co_await http::async_write(stream, message, use_tuple);
        co_return !ec;
    }

    // Authentication is a property of the route that matched (Route::access), so no
    // spelling of a path reaches a handler around it. A path that matches no route needs a
    // token too on the API listener: only callers with one learn which paths exist.
    asio::awaitable<std::variant<Admitted, Response>> admit(const http::request_header<>& header) {
        try {
            auto target = parse_request_target(header.target());
            if (!target)
                co_return problem::bad_request(
                    "the request target must be an absolute path without '//', dot "
                    "segments, percent-encoding or a trailing slash");
            auto match = router.match(header.method_string(), target->path);
            const bool needs_token =
                match.route ? match.route->access == Access::token : settings.serve_api;
            Admitted admitted{match.route, std::move(match.params), std::move(*target), {}};
            if (needs_token) {
                auto who =
                    co_await authenticate(pool, std::string(header[http::field::authorization]));
                if (auto* refusal = std::get_if<Response>(&who)) co_return std::move(*refusal);
                admitted.token_name = std::get<TokenIdentity>(who).name;
            }
            if (!match.route) {
                if (match.allow.empty()) co_return problem::not_found("no such resource");
                co_return problem::method_not_allowed(match.allow);
            }
            co_return admitted;
        } catch (const std::exception& e) {
            spdlog::error("admin api: admitting a request failed: {}", e.what());
        }
        co_return problem::internal_error();
    }

    asio::awaitable<Response> handle(const Request& request, Admitted& admitted) {
        try {
            RequestContext context{request, std::move(admitted.params), admitted.token_name, pool,
                                   hash_pool.get_executor()};
            auto response = co_await admitted.route->handler(context);
            co_return response;
        } catch (const std::exception& e) {
            // A bug, not the client's doing: logged with context, answered with a 500.
            spdlog::error("admin api: {} {} failed: {}", request.method, request.path, e.what());
        }
        co_return problem::internal_error();
    }
};

AdminServer::AdminServer(asio::any_io_executor executor, pg::Pool& pool, Settings settings)
    : impl_(std::make_shared<Impl>(executor, pool, std::move(settings))) {
    crypto::init();
}

AdminServer::~AdminServer() {
    stop();
}

void AdminServer::start() {
    const auto& s = impl_->settings;
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(s.address, ec);
    if (ec) throw std::runtime_error("admin api: " + s.address + " is not an IP address");
    const tcp::endpoint endpoint(address, s.port);
    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && address.is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error("admin api: cannot listen on " + s.address + ":" +
                                 std::to_string(s.port) + ": " + ec.message());
    spdlog::info("{} on {}:{}{}", s.serve_api ? "admin api" : "metrics", s.address, port(),
                 s.tls_context ? " (TLS)" : "");
    spawn_supervised(impl_->executor, "admin_accept",
                     [impl = impl_] { return impl->accept_loop(); });
}

void AdminServer::stop() {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    for (auto& [id, stream] : impl_->connections)
        stream->socket().close(ignored);
}

unsigned short AdminServer::port() const {
    boost::system::error_code ec;
    const auto endpoint = impl_->acceptor.local_endpoint(ec);
    return ec ? impl_->settings.port : endpoint.port();
}

}  // namespace smarthost::admin
