#pragma once
// SMTP AUTH credential checks. argon2id verification is slow by design, so it runs on a
// separate thread pool; a cache of recent successes lets a client that logs in for every
// message (most CMSes do) skip the hash after its first login.
//
// Unauthenticated clients drive this work, so it is bounded: at most max_pending logins
// are verified at once (one more is refused at once, overloaded), and at most max_lookups
// of them read the database at a time, so logins cannot take the pool connections that
// accepting mail needs.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "relay/ingress/identity.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::ingress {

struct AuthVerdict {
    smtp::AuthOutcome outcome = smtp::AuthOutcome::invalid_credentials;
    bool overloaded = false;  // temporary_failure because max_pending logins were running
    Identity identity;        // set on success
};

class Authenticator {
  public:
    struct Settings {
        std::chrono::seconds cache_ttl{300};
        std::size_t max_pending = 64;
        std::size_t max_lookups = 4;
        // How long still_valid() may answer from what it read last (the account policy's
        // cache time: a disabled credential and a suspended account take effect alike).
        std::chrono::milliseconds state_ttl{5000};
    };

    // The pool and the callers run on one executor (see pg::Pool); `hashers` runs argon2id.
    Authenticator(pg::Pool& pool, boost::asio::thread_pool& hashers, Settings settings);
    ~Authenticator();

    boost::asio::awaitable<AuthVerdict> verify(std::string username, std::string password);

    // Whether the credential a session logged in with is still enabled with the same
    // secret (not disabled, rotated or deleted since). True when the database cannot
    // say: the session's next steps need the database anyway.
    boost::asio::awaitable<bool> still_valid(const Identity& identity);

    std::uint64_t hashes_computed() const;  // argon2id verifications actually run

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace smarthost::ingress
