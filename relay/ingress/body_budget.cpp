#include "relay/ingress/body_budget.hpp"

#include <utility>

#include "core/metrics/metrics.hpp"

namespace smarthost::ingress {

bool BodyBudget::take(std::uint64_t bytes) {
    auto held = held_.load(std::memory_order_relaxed);
    do {
        if (bytes > limit_ || held > limit_ - bytes) return false;
    } while (!held_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
    metrics::global().smtp_body_bytes.Increment(static_cast<double>(bytes));
    return true;
}

void BodyBudget::give_back(std::uint64_t bytes) {
    held_.fetch_sub(bytes, std::memory_order_relaxed);
    metrics::global().smtp_body_bytes.Decrement(static_cast<double>(bytes));
}

BodyBudget::Charge::Charge(Charge&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

BodyBudget::Charge& BodyBudget::Charge::operator=(Charge&& other) noexcept {
    if (this != &other) {
        reset();
        budget_ = std::exchange(other.budget_, nullptr);
        bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
}

bool BodyBudget::Charge::resize(std::uint64_t bytes) {
    if (!budget_ || bytes == bytes_) return true;
    if (bytes < bytes_) {
        budget_->give_back(bytes_ - bytes);
    } else if (!budget_->take(bytes - bytes_)) {
        return false;
    }
    bytes_ = bytes;
    return true;
}

}  // namespace smarthost::ingress
