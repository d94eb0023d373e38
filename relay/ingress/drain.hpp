#pragma once
// What SIGTERM means for the SMTP side (docs/configuration.md, "Signals"). While draining,
// the listeners still accept, but a new connection is told 421 4.3.2 instead of being
// greeted, and a session waiting for a command outside a mail transaction is told
// 421 4.3.2 at once (RFC 5321 section 3.8 allows it at any time); sessions in a
// transaction go on. Once closing (the grace period is over), every session is told
// 421 4.3.2 as soon as it waits for its client. A session whose message is being
// committed is never cut there: it answers 250 once the commit is done, then 421.
//
// Threading: one executor, like the sessions it notifies.

#include <cstdint>
#include <functional>
#include <map>

namespace smarthost::ingress {

class Drain {
  public:
    enum class Phase { serving, draining, closing };
    using Token = std::uint64_t;

    Phase phase() const { return phase_; }
    bool stopping() const { return phase_ != Phase::serving; }

    // `notice` runs at every phase change until unsubscribe(token).
    Token subscribe(std::function<void()> notice);
    void unsubscribe(Token token);
    std::size_t subscribers() const { return subscribers_.size(); }

    void begin();  // serving → draining
    void close();  // → closing

  private:
    void enter(Phase phase);

    Phase phase_ = Phase::serving;
    Token next_token_ = 1;
    std::map<Token, std::function<void()>> subscribers_;
};

}  // namespace smarthost::ingress
