#pragma once
// /api/v1/accounts: list, create, get, update, suspend, resume, delete.

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "admin-api/router.hpp"

namespace smarthost::admin {

void add_account_routes(Router& router);

// A page of the rows of `table` (credentials, allowed_networks) that belong to the account
// named by the {id} segment, each as `item_json` over alias t; 404 for a missing account.
boost::asio::awaitable<Response> list_of_account(RequestContext& context, std::string_view table,
                                                 std::string_view item_json);

}  // namespace smarthost::admin
