#include "relay/ingress/network_directory.hpp"

#include "core/pg/pool.hpp"

namespace smarthost::ingress {
namespace {

// Networks never overlap (exclusion constraint), so at most one row matches.
constexpr const char* k_account_for_address = R"sql(
SELECT n.account_id, a.name
  FROM allowed_networks n JOIN accounts a ON a.id = n.account_id
 WHERE n.network >>= $1::inet
 LIMIT 1)sql";

}  // namespace

boost::asio::awaitable<Result<std::optional<Identity>>> NetworkDirectory::account_for(
    std::string client_ip) {
    auto rows = co_await pool_.query(k_account_for_address, client_ip);
    if (!rows) co_return rows.error();
    if (rows->empty()) co_return std::optional<Identity>{};
    Identity identity;
    identity.account_id = rows->get_int(0, 0);
    identity.account_name = std::string(rows->get(0, 1));
    co_return std::optional<Identity>{std::move(identity)};
}

}  // namespace smarthost::ingress
