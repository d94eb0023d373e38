#pragma once
// Runs a coroutine to completion on an io_context from a plain (test) thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <utility>

namespace smarthost::test {

// Result<T> has no default constructor, so use_future cannot carry it: the value is kept
// in an optional instead. Exceptions from the coroutine are rethrown here.
template <class T>
T run_awaitable(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
    std::optional<T> result;
    std::exception_ptr failure;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { result.emplace(co_await std::move(task)); },
        [&](std::exception_ptr e) { failure = e; });
    io.restart();
    io.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*result);
}

}  // namespace smarthost::test
