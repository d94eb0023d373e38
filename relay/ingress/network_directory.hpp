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

class NetworkDirectory {
  public:
    explicit NetworkDirectory(pg::Pool& pool) : pool_(pool) {}

    // The owning account, nullopt when no network contains the address, or an Error
    // when the database cannot answer.
    boost::asio::awaitable<Result<std::optional<Identity>>> account_for(std::string client_ip);

  private:
    pg::Pool& pool_;
};

}  // namespace smarthost::ingress
