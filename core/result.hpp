#pragma once
// Expected failures as values (STYLE.md): a Result<T> holds a T or an Error.

#include <string>
#include <utility>
#include <variant>

namespace smarthost {

struct Error {
    std::string message;
    std::string code;  // e.g. a PostgreSQL SQLSTATE; empty when there is none
    // True when the failure is about reaching the service (connection lost or refused)
    // rather than about the request: such work may be retried later.
    bool unavailable = false;
};

template <class T>
class Result {
  public:
    Result(T value) : value_(std::move(value)) {}
    Result(Error error) : value_(std::move(error)) {}

    bool ok() const { return value_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(value_); }
    const T& value() const { return std::get<0>(value_); }
    T& operator*() { return value(); }
    T* operator->() { return &value(); }
    const T& operator*() const { return value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const { return std::get<1>(value_); }

  private:
    std::variant<T, Error> value_;
};

struct Done {};
using Status = Result<Done>;

}  // namespace smarthost
