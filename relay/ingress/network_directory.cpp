#include "relay/ingress/network_directory.hpp"

#include "core/pg/pool.hpp"

namespace smarthost::ingress {
namespace {

// Networks never overlap (exclusion constraint), so at most one row matches.
constexpr std::size_t k_max_cached_addresses = 100000;

constexpr const char* k_account_for_address = R"sql(
SELECT n.account_id, a.name
  FROM allowed_networks n JOIN accounts a ON a.id = n.account_id
 WHERE n.network >>= $1::inet
 LIMIT 1)sql";

}  // namespace

boost::asio::awaitable<Result<std::optional<Identity>>> NetworkDirectory::account_for(
    std::string client_ip) {
    const auto now = std::chrono::steady_clock::now();
    if (auto it = cache_.find(client_ip); it != cache_.end()) {
        if (it->second.expires > now) co_return it->second.owner;
        cache_.erase(it);
    }
    auto rows = co_await pool_.query(k_account_for_address, client_ip);
    if (!rows) co_return rows.error();
    std::optional<Identity> owner;
    if (!rows->empty()) {
        owner.emplace();
        owner->account_id = rows->get_int(0, 0);
        owner->account_name = std::string(rows->get(0, 1));
    }
    if (cache_ttl_.count() > 0) {
        if (cache_.size() >= k_max_cached_addresses) {
            std::erase_if(cache_, [now](const auto& kv) { return kv.second.expires <= now; });
            if (cache_.size() >= k_max_cached_addresses) cache_.clear();
        }
        cache_[client_ip] = Cached{owner, now + cache_ttl_};
    }
    co_return owner;
}

}  // namespace smarthost::ingress
