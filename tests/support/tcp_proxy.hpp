#pragma once
// A loopback TCP forwarder in front of a server, on its own thread, that a test can cut
// (every connection dropped, nothing listening) and restore on the same port: an outage
// and a recovery as the client sees them.

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace smarthost::test {

class TcpProxy {
  public:
    using tcp = boost::asio::ip::tcp;

    // `url` is a postgresql:// URI with an explicit host:port; the proxy forwards there.
    explicit TcpProxy(const std::string& url) : url_(url), acceptor_(io_) {
        const auto [begin, end] = port_span(url_);
        target_ =
            tcp::endpoint(boost::asio::ip::address_v4::loopback(),
                          static_cast<unsigned short>(std::stoi(url.substr(begin, end - begin))));
        listen(0);
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TcpProxy() {
        stop();
        work_.reset();
        io_.stop();
        thread_.join();
    }

    // The same URL, through the proxy.
    std::string url() const {
        const auto [begin, end] = port_span(url_);
        return url_.substr(0, begin) + std::to_string(port_) + url_.substr(end);
    }

    void stop() {
        on_thread([this] {
            boost::system::error_code ignored;
            acceptor_.close(ignored);
            for (auto& socket : sockets_)
                socket->close(ignored);
            sockets_.clear();
        });
    }
    void start() {
        on_thread([this] { listen(port_); });
    }

  private:
    static std::pair<std::size_t, std::size_t> port_span(const std::string& url) {
        const auto authority = url.find("://");
        const auto path = url.find('/', authority == std::string::npos ? 0 : authority + 3);
        const auto colon = url.rfind(':', path);
        if (authority == std::string::npos || colon == std::string::npos || colon < authority + 3) {
            throw std::invalid_argument("TcpProxy needs a URI with host:port: " + url);
        }
        return {colon + 1, path == std::string::npos ? url.size() : path};
    }

    template <class F>
    void on_thread(F f) {
        if (!thread_.joinable()) return f();
        boost::asio::post(io_, boost::asio::use_future(std::move(f))).get();
    }

    void listen(unsigned short port) {
        acceptor_.open(tcp::v4());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind({boost::asio::ip::address_v4::loopback(), port});
        acceptor_.listen();
        boost::asio::co_spawn(io_, accept_loop(), boost::asio::detached);
    }

    boost::asio::awaitable<void> accept_loop() {
        for (;;) {
            auto client = std::make_shared<tcp::socket>(io_);
            co_await acceptor_.async_accept(*client, boost::asio::use_awaitable);
            auto server = std::make_shared<tcp::socket>(io_);
            co_await server->async_connect(target_, boost::asio::use_awaitable);
            sockets_.push_back(client);
            sockets_.push_back(server);
            boost::asio::co_spawn(io_, pump(client, server), boost::asio::detached);
            boost::asio::co_spawn(io_, pump(server, client), boost::asio::detached);
        }
    }

    static boost::asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from,
                                             std::shared_ptr<tcp::socket> to) {
        std::array<char, 16384> buffer;
        try {
            for (;;) {
                const std::size_t n = co_await from->async_read_some(boost::asio::buffer(buffer),
                                                                     boost::asio::use_awaitable);
                co_await boost::asio::async_write(*to, boost::asio::buffer(buffer, n),
                                                  boost::asio::use_awaitable);
            }
        } catch (const std::exception&) {
        }
        // Either side gone: the other one sees the connection drop too.
        boost::system::error_code ignored;
        from->close(ignored);
        to->close(ignored);
    }

    std::string url_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
        io_.get_executor()};
    tcp::acceptor acceptor_;
    tcp::endpoint target_;
    unsigned short port_ = 0;
    std::vector<std::shared_ptr<tcp::socket>> sockets_;
    std::thread thread_;
};

}  // namespace smarthost::test
