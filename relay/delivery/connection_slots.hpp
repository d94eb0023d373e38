#pragma once
// Concurrency limits for outbound connections: at most `global` at once in this process,
// at most the domain's own limit to one destination domain, and at most the host's limit
// to one MX host (many domains share the MX hosts of big receivers). A worker acquires a
// domain slot before it starts and a host slot before it connects to a host, and releases
// each when done; waiters queue without polling. Runs on one executor, like the rest of
// the delivery role.

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

    // Completes when a connection to MX host `host` may be opened: fewer than
    // `host_limit` to it. Host slots do not count against `global`: the domain slot that
    // the worker already holds does.
    boost::asio::awaitable<void> acquire_host(std::string host, std::size_t host_limit);
    void release_host(const std::string& host);

    // Completes when a connection to destination group `group` (destination_groups.hpp)
    // may be opened: fewer than `group_limit` to it. Like host slots, not against `global`.
    boost::asio::awaitable<void> acquire_group(std::string group, std::size_t group_limit);
    void release_group(const std::string& group);

    std::size_t in_use() const { return in_use_; }
    std::size_t in_use(const std::string& domain) const;
    std::size_t in_use_host(const std::string& host) const;
    std::size_t in_use_group(const std::string& group) const;

  private:
    struct Waiter;
    bool available(const std::string& domain, std::size_t limit) const;
    boost::asio::awaitable<void> wait_for_release();
    void wake_waiters();

    boost::asio::any_io_executor executor_;
    std::size_t global_;
    std::size_t in_use_ = 0;
    std::map<std::string, std::size_t> per_domain_;
    std::map<std::string, std::size_t> per_host_;
    std::map<std::string, std::size_t> per_group_;
    std::list<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace smarthost::delivery
