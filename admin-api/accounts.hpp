#pragma once
// /api/v1/accounts: list, create, get, update, suspend, resume, delete.

#include <boost/asio/awaitable.hpp>
#include <string_view>
#include <vector>

#include "admin-api/router.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {

void add_account_routes(Router& router);

// A page of the rows of `table` (credentials, allowed_networks) that belong to the account
// named by the {id} segment, each as `item_json` over alias t; 404 for a missing account.
// `condition` narrows the rows further with its own parameters `extra`, numbered from $4
// ($1..$3 are the account, the cursor and the limit); item_json may use them too.
boost::asio::awaitable<Response> list_of_account(RequestContext& context, std::string_view table,
                                                 std::string_view item_json,
                                                 std::string_view condition = "true",
                                                 std::vector<pg::Param> extra = {});

}  // namespace smarthost::admin
