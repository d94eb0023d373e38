#pragma once
// Starting coroutines so that none dies silently. asio::detached drops whatever the
// coroutine throws: a bug in the claim loop would end delivery without a line in the log.
// These log the exception and count it in smarthost_task_failures_total{task}; a loop
// meant to run for the process's life is started again after a pause (spawn_supervised).
//
// `task` names the work in the log and in the metric label: a string literal, never data
// from a client.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <utility>

namespace smarthost {

// Logs `failure` (error level, with `task`) and counts it; never throws.
void report_task_failure(const char* task, std::exception_ptr failure) noexcept;

// co_spawn with a completion that reports an exception instead of dropping it. `start`
// is what co_spawn takes: an awaitable, or a callable returning one.
template <class ExecutorOrContext, class Start>
void spawn_logged(ExecutorOrContext&& where, const char* task, Start&& start) {
    boost::asio::co_spawn(std::forward<ExecutorOrContext>(where), std::forward<Start>(start),
                          [task](std::exception_ptr failure) {
                              if (failure) report_task_failure(task, failure);
                          });
}

// Runs the awaitable `make()` returns until it returns normally; after an exception it is
// reported and, `pause` later, `make()` is called for a fresh one.
template <class Make>
boost::asio::awaitable<void> supervise(const char* task, Make make,
                                       std::chrono::milliseconds pause) {
    for (;;) {
        std::exception_ptr failure;
        try {
            co_await make();
            co_return;
        } catch (...) {
            failure = std::current_exception();
        }
        report_task_failure(task, failure);
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, pause);
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
}

// A long-lived loop (claiming, LISTEN, committing): `make` is called again for every
// restart, so it returns a fresh awaitable each time (say `[self] { return self->loop(); }`).
template <class ExecutorOrContext, class Make>
void spawn_supervised(ExecutorOrContext&& where, const char* task, Make make,
                      std::chrono::milliseconds pause = std::chrono::seconds(1)) {
    spawn_logged(std::forward<ExecutorOrContext>(where), task,
                 supervise(task, std::move(make), pause));
}

}  // namespace smarthost
