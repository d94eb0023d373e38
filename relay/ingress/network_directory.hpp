#pragma once
// Which account, if any, owns the allow-listed network a client connects from.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/result.hpp"
#include "relay/ingress/identity.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::ingress {

// Answers are remembered for a few seconds per address: clients that open a connection
// per message (most CMSes) then cost no database round trip each, and a network removed
// by an operator stops relaying within that time.
class NetworkDirectory {
  public:
    explicit NetworkDirectory(pg::Pool& pool,
                              std::chrono::milliseconds cache_ttl = std::chrono::seconds(10))
        : pool_(pool), cache_ttl_(cache_ttl) {}

    // The owning account, nullopt when no network contains the address, or an Error
    // when the database cannot answer (never cached).
    boost::asio::awaitable<Result<std::optional<Identity>>> account_for(std::string client_ip);

  private:
    struct Cached {
        std::optional<Identity> owner;
        std::chrono::steady_clock::time_point expires;
    };
    pg::Pool& pool_;
    std::chrono::milliseconds cache_ttl_;
    std::unordered_map<std::string, Cached> cache_;
};

}  // namespace smarthost::ingress
