#pragma once
// The bytes of message bodies the delivery role holds (docs/delivery.md, "Memory"): the
// bodies of every running batch, each counted once however many domain batches share it,
// until the last of them lets go. The claim loop claims only while there is room, and
// asks for no more than there is.
//
// Threading: one executor, like the scheduler; the gauge it publishes is atomic.

#include <cstddef>
#include <functional>
#include <memory>

namespace smarthost::queue {
struct Claim;
}

namespace smarthost::delivery {

class BodyBudget {
  public:
    // `released` runs whenever bodies are let go, so a waiting claim can go ahead.
    BodyBudget(std::size_t max_bytes, std::function<void()> released);
    ~BodyBudget();
    BodyBudget(const BodyBudget&) = delete;
    BodyBudget& operator=(const BodyBudget&) = delete;

    // Counts the claim's bodies as held: each is swapped for a handle to the same bytes
    // that gives them back to the budget when its last copy is dropped.
    void hold(queue::Claim& claim);
    std::size_t held() const;
    // What a claim may still bring: the bound less what is held, 0 once it is reached.
    std::size_t room() const;

  private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace smarthost::delivery
