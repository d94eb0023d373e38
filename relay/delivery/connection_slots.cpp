#include "relay/delivery/connection_slots.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace smarthost::delivery {

namespace asio = boost::asio;

// A waiting worker: its timer never expires by itself; release() cancels it.
struct ConnectionSlots::Waiter {
    explicit Waiter(asio::any_io_executor executor) : timer(executor) {}
    asio::steady_timer timer;
};

ConnectionSlots::ConnectionSlots(asio::any_io_executor executor, std::size_t global)
    : executor_(std::move(executor)), global_(global == 0 ? 1 : global) {}

bool ConnectionSlots::available(const std::string& domain, std::size_t limit) const {
    return in_use_ < global_ && in_use(domain) < (limit == 0 ? 1 : limit);
}

namespace {

std::size_t count_in(const std::map<std::string, std::size_t>& counts, const std::string& key) {
    const auto it = counts.find(key);
    return it == counts.end() ? 0 : it->second;
}

void decrement(std::map<std::string, std::size_t>& counts, const std::string& key) {
    const auto it = counts.find(key);
    if (it != counts.end() && --it->second == 0) counts.erase(it);
}

}  // namespace

std::size_t ConnectionSlots::in_use(const std::string& domain) const {
    return count_in(per_domain_, domain);
}

std::size_t ConnectionSlots::in_use_host(const std::string& host) const {
    return count_in(per_host_, host);
}

std::size_t ConnectionSlots::in_use_group(const std::string& group) const {
    return count_in(per_group_, group);
}

asio::awaitable<void> ConnectionSlots::wait_for_release() {
    auto waiter = std::make_shared<Waiter>(executor_);
    waiter->timer.expires_at(asio::steady_timer::time_point::max());
    const auto position = waiters_.insert(waiters_.end(), waiter);
    co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    waiters_.erase(position);
}

// Every waiter looks again: which of them may go depends on its domain or host.
void ConnectionSlots::wake_waiters() {
    for (const auto& waiter : waiters_)
        waiter->timer.cancel();
}

asio::awaitable<void> ConnectionSlots::acquire(std::string domain, std::size_t domain_limit) {
    while (!available(domain, domain_limit))
        co_await wait_for_release();
    ++in_use_;
    ++per_domain_[domain];
}

void ConnectionSlots::release(const std::string& domain) {
    if (in_use_ > 0) --in_use_;
    decrement(per_domain_, domain);
    wake_waiters();
}

asio::awaitable<void> ConnectionSlots::acquire_host(std::string host, std::size_t host_limit) {
    const std::size_t limit = host_limit == 0 ? 1 : host_limit;
    while (in_use_host(host) >= limit)
        co_await wait_for_release();
    ++per_host_[host];
}

void ConnectionSlots::release_host(const std::string& host) {
    decrement(per_host_, host);
    wake_waiters();
}

asio::awaitable<void> ConnectionSlots::acquire_group(std::string group, std::size_t group_limit) {
    const std::size_t limit = group_limit == 0 ? 1 : group_limit;
    while (in_use_group(group) >= limit)
        co_await wait_for_release();
    ++per_group_[group];
}

void ConnectionSlots::release_group(const std::string& group) {
    decrement(per_group_, group);
    wake_waiters();
}

}  // namespace smarthost::delivery
