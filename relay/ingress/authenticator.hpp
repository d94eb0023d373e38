#pragma once
// SMTP AUTH credential checks. argon2id verification is slow by design, so it runs on a
// separate thread pool; a cache of recent successes lets a client that logs in for every
// message (most CMSes do) skip the hash after its first login.

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
    Identity identity;  // set on success
};

class Authenticator {
  public:
    // The pool and the callers run on one executor (see pg::Pool); `hashers` runs argon2id.
    Authenticator(pg::Pool& pool, boost::asio::thread_pool& hashers,
                  std::chrono::seconds cache_ttl);
    ~Authenticator();

    boost::asio::awaitable<AuthVerdict> verify(std::string username, std::string password);

    std::uint64_t hashes_computed() const;  // argon2id verifications actually run

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace smarthost::ingress
