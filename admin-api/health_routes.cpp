#include "admin-api/health_routes.hpp"

#include "core/metrics/metrics.hpp"
#include "core/metrics/queue_gauges.hpp"
#include "core/metrics/readiness.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

asio::awaitable<Response> scrape(RequestContext& context) {
    auto& metrics = metrics::global();
    co_await metrics::refresh_queue_gauges(context.pool, metrics);
    Response response;
    response.content_type = metrics::Metrics::content_type;
    response.body = metrics.serialize();
    co_return response;
}

// Alive is all it says: the process answers HTTP on its I/O thread.
asio::awaitable<Response> healthz(RequestContext&) {
    co_return json_response(200, R"({"status":"alive"})");
}

asio::awaitable<Response> readyz(RequestContext& context) {
    const auto readiness = co_await metrics::check_readiness(context.pool);
    co_return json_response(readiness.ready() ? 200 : 503, readiness.json());
}

}  // namespace

void add_health_routes(Router& router) {
    router.add("GET", "/metrics", scrape, Access::open);
    router.add("GET", "/healthz", healthz, Access::open);
    router.add("GET", "/readyz", readyz, Access::open);
}

}  // namespace smarthost::admin
