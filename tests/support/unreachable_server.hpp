#pragma once
// Stand-ins for a PostgreSQL that cannot be used, for outage tests.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace smarthost::test {

// A loopback URL where nothing listens: connections are refused at once.
inline std::string refused_url() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::address_v4::loopback(), 0});
    const auto port = acceptor.local_endpoint().port();
    acceptor.close();
    return "postgresql://smarthost@127.0.0.1:" + std::to_string(port) + "/none";
}

// A port that completes TCP connections (kernel backlog) but never says a word: a
// stalled or partitioned server, where only deadlines help.
class SilentServer {
  public:
    SilentServer() : acceptor_(io_, {boost::asio::ip::address_v4::loopback(), 0}) {}
    std::string url() const {
        return "postgresql://smarthost@127.0.0.1:" +
               std::to_string(acceptor_.local_endpoint().port()) + "/none";
    }

  private:
    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace smarthost::test
