#include "relay/delivery/body_budget.hpp"

#include <map>
#include <string>
#include <utility>

#include "core/metrics/metrics.hpp"
#include "relay/queue/claims.hpp"

namespace smarthost::delivery {

// Shared with the bodies' handles, which may outlive the budget (a batch still winding
// down when the service goes): they then release into a state nobody reads.
struct BodyBudget::State {
    std::size_t max_bytes = 0;
    std::size_t held = 0;
    std::function<void()> released;
    bool published = true;  // this budget's share of the process-wide gauge

    void add(std::size_t bytes) {
        held += bytes;
        if (published) metrics::global().delivery_body_bytes.Increment(static_cast<double>(bytes));
    }
    void release(std::size_t bytes) {
        held -= bytes;
        if (published) metrics::global().delivery_body_bytes.Decrement(static_cast<double>(bytes));
        if (released) released();
    }
};

BodyBudget::BodyBudget(std::size_t max_bytes, std::function<void()> released)
    : state_(std::make_shared<State>()) {
    state_->max_bytes = max_bytes;
    state_->released = std::move(released);
}

BodyBudget::~BodyBudget() {
    state_->released = nullptr;
    metrics::global().delivery_body_bytes.Decrement(static_cast<double>(state_->held));
    state_->published = false;
}

void BodyBudget::hold(queue::Claim& claim) {
    std::map<const std::string*, std::shared_ptr<const std::string>> handles;
    for (auto& batch : claim.domains) {
        for (auto& message : batch.messages) {
            if (!message.body) continue;
            auto [handle, fresh] = handles.try_emplace(message.body.get());
            if (fresh) {
                const std::size_t bytes = message.body->size();
                state_->add(bytes);
                handle->second = std::shared_ptr<const std::string>(
                    message.body.get(), [state = state_, body = message.body,
                                         bytes](const std::string*) { state->release(bytes); });
            }
            message.body = handle->second;
        }
    }
}

std::size_t BodyBudget::held() const {
    return state_->held;
}

std::size_t BodyBudget::room() const {
    return state_->held < state_->max_bytes ? state_->max_bytes - state_->held : 0;
}

}  // namespace smarthost::delivery
