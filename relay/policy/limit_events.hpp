#pragma once
// limit.reached webhook events (docs/webhooks.md): told once per account, limit and
// window when a rate limit refuses mail. The SMTP reply never waits for it: the event is
// written by a coroutine of its own after the refusal (fire and forget), at most
// k_max_pending at once in a process (more are dropped), and each process remembers what
// it told for the window so that a refused client retrying does not write again. Across
// replicas the write itself checks, under an advisory lock on the account and limit, that
// the window has no event yet. Best effort: a crash between the refusal and the write
// loses the event (the refusal itself changed nothing to roll back with).

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

class LimitEvents {
  public:
    static constexpr std::size_t k_max_pending = 16;
    static constexpr std::size_t k_max_remembered = 10000;

    explicit LimitEvents(pg::Pool& pool);

    // Writes the event in the background on `executor` unless this window's was already
    // told. `value` is the limit's value; `resets_at` the end of its window.
    void reached(const boost::asio::any_io_executor& executor, std::int64_t account_id,
                 std::string limit, std::uint64_t value,
                 std::chrono::system_clock::time_point resets_at);

    struct State;  // shared with the writes in flight (limit_events.cpp)

  private:
    std::shared_ptr<State> state_;
};

}  // namespace smarthost::policy
