#include "relay/ingress/drain.hpp"

#include <vector>

namespace smarthost::ingress {

Drain::Token Drain::subscribe(std::function<void()> notice) {
    const Token token = next_token_++;
    subscribers_.emplace(token, std::move(notice));
    return token;
}

void Drain::unsubscribe(Token token) {
    subscribers_.erase(token);
}

void Drain::begin() {
    if (phase_ == Phase::serving) enter(Phase::draining);
}

void Drain::close() {
    if (phase_ != Phase::closing) enter(Phase::closing);
}

void Drain::enter(Phase phase) {
    phase_ = phase;
    // A copy: a notice may end its session, which unsubscribes.
    std::vector<std::function<void()>> notices;
    notices.reserve(subscribers_.size());
    for (const auto& [token, notice] : subscribers_)
        notices.push_back(notice);
    for (const auto& notice : notices)
        notice();
}

}  // namespace smarthost::ingress
