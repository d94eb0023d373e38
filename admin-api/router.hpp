#pragma once
// Method + path-pattern dispatch. Patterns are literal segments and {name} segments that
// match any one non-empty segment: "/api/v1/accounts/{id}/credentials".

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin-api/http_message.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::admin {

// What a route handler works with. The pool and the handler run on one executor;
// slow CPU work (argon2id) goes to hash_executor.
struct RequestContext {
    const Request& request;
    std::vector<std::pair<std::string, std::string>> params;  // from {name} segments
    std::string token_name;                                   // the authenticated token
    pg::Pool& pool;
    boost::asio::any_io_executor hash_executor;

    std::string_view param(std::string_view name) const;
    // A {name} segment holding a positive decimal id; nullopt otherwise (a 404).
    std::optional<std::int64_t> id_param(std::string_view name = "id") const;
};

// A positive decimal id ("17"); nullopt for anything else ("0", "-1", "1x", overflow, and
// "017": one id, one spelling, so no resource has a second path).
std::optional<std::int64_t> parse_id(std::string_view text);

using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

// Who may call a route. It belongs to the route, so the server decides authentication by
// the route that matched, never by what the path looks like (DESIGN.md contract 10).
enum class Access {
    token,  // a valid Bearer token, checked on the headers before the body is read
    open,   // anyone who reaches the listener: /metrics, /healthz, /readyz
};

struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
    Access access = Access::token;
};

class Router {
  public:
    // A route needs a token unless it says otherwise.
    void add(std::string method, std::string pattern, Handler handler,
             Access access = Access::token);

    struct Match {
        const Route* route = nullptr;  // null: no route for this method
        std::vector<std::pair<std::string, std::string>> params;
        std::vector<std::string> allow;  // methods the path has; empty: unknown path (404)
    };
    Match match(std::string_view method, std::string_view path) const;

    const std::vector<Route>& routes() const { return routes_; }

  private:
    std::vector<Route> routes_;
};

}  // namespace smarthost::admin
