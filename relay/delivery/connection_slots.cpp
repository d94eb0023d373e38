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

std::size_t ConnectionSlots::in_use(const std::string& domain) const {
    const auto it = per_domain_.find(domain);
    return it == per_domain_.end() ? 0 : it->second;
}

asio::awaitable<void> ConnectionSlots::acquire(std::string domain, std::size_t domain_limit) {
    while (!available(domain, domain_limit)) {
        auto waiter = std::make_shared<Waiter>(executor_);
        waiter->timer.expires_at(asio::steady_timer::time_point::max());
        const auto position = waiters_.insert(waiters_.end(), waiter);
        co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        waiters_.erase(position);
    }
    ++in_use_;
    ++per_domain_[domain];
}

void ConnectionSlots::release(const std::string& domain) {
    if (in_use_ > 0) --in_use_;
    const auto it = per_domain_.find(domain);
    if (it != per_domain_.end() && --it->second == 0) per_domain_.erase(it);
    // Every waiter looks again: which of them may go depends on its domain.
    for (const auto& waiter : waiters_)
        waiter->timer.cancel();
}

}  // namespace smarthost::delivery
