#pragma once
// Concurrency limits for outbound connections: at most `global` at once in this process,
// and at most the domain's own limit to one destination domain. A worker acquires a slot
// before it connects and releases it when it is done; waiters queue without polling.
// Runs on one executor, like the rest of the delivery role.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <string>

namespace smarthost::delivery {

class ConnectionSlots {
  public:
    ConnectionSlots(boost::asio::any_io_executor executor, std::size_t global);

    // Completes when a connection to `domain` may be opened: fewer than `global`
    // connections in all and fewer than `domain_limit` to the domain.
    boost::asio::awaitable<void> acquire(std::string domain, std::size_t domain_limit);
    void release(const std::string& domain);

    std::size_t in_use() const { return in_use_; }
    std::size_t in_use(const std::string& domain) const;

  private:
    struct Waiter;
    bool available(const std::string& domain, std::size_t limit) const;

    boost::asio::any_io_executor executor_;
    std::size_t global_;
    std::size_t in_use_ = 0;
    std::map<std::string, std::size_t> per_domain_;
    std::list<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace smarthost::delivery
