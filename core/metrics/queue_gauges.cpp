#include "core/metrics/queue_gauges.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <string>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::metrics {
namespace {

using Clock = std::chrono::steady_clock;

// One subquery per state, so each is answered from the partial index
// recipients_unfinished_idx (schema/0004) in time proportional to the queue, not to the
// history of delivered mail.
constexpr const char* k_queue_counts = R"sql(
SELECT (SELECT count(*) FROM recipients WHERE state = 'queued'),
       (SELECT count(*) FROM recipients WHERE state = 'deferred'),
       (SELECT count(*) FROM recipients WHERE state = 'in_flight'),
       (SELECT count(*) FROM recipients WHERE state = 'held'),
       (SELECT coalesce(extract(epoch FROM now() - min(m.received_at)), 0)::float8
        FROM recipients r JOIN messages m ON m.id = r.message_id
        WHERE r.state IN ('queued', 'deferred', 'in_flight')),
       (SELECT count(*) FROM holds
         WHERE released_at IS NULL AND credential_id IS NULL AND sub_user IS NULL),
       (SELECT count(*) FROM holds WHERE released_at IS NULL AND credential_id IS NOT NULL),
       (SELECT count(*) FROM holds WHERE released_at IS NULL AND sub_user IS NOT NULL))sql";

// Webhook outbox: pending deliveries (the claim's partial index), the oldest, and the
// endpoints failing now.
constexpr const char* k_webhook_counts = R"sql(
SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'),
       (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
        FROM webhook_deliveries WHERE state = 'pending'),
       (SELECT count(*) FROM webhook_endpoints WHERE enabled AND consecutive_failures > 0))sql";

std::atomic<Clock::rep> g_last_refresh{0};  // steady_clock ticks; 0: never

}  // namespace

boost::asio::awaitable<void> refresh_queue_gauges(pg::Pool& pool, Metrics& metrics,
                                                  std::chrono::milliseconds min_interval) {
    const auto now = Clock::now().time_since_epoch().count();
    const auto last = g_last_refresh.load();
    if (last != 0 && Clock::duration(now - last) < min_interval) co_return;
    g_last_refresh = now;
    auto rows = co_await pool.query(k_queue_counts);
    if (!rows) {
        spdlog::debug("metrics: queue gauges not refreshed: {}", rows.error().message);
        co_return;
    }
    const char* states[] = {"queued", "deferred", "in_flight", "held"};
    for (std::size_t i = 0; i < 4; ++i)
        metrics.queue_recipients.Add({{"state", states[i]}})
            .Set(static_cast<double>(rows->get_int(0, i)));
    metrics.queue_oldest_age.Set(std::stod(std::string(rows->get(0, 4))));
    const char* scopes[] = {"account", "credential", "sub_user"};
    for (std::size_t i = 0; i < 3; ++i)
        metrics.holds_active.Add({{"scope", scopes[i]}})
            .Set(static_cast<double>(rows->get_int(0, 5 + i)));
    auto webhooks = co_await pool.query(k_webhook_counts);
    if (!webhooks) co_return;
    metrics.webhook_pending.Set(static_cast<double>(webhooks->get_int(0, 0)));
    metrics.webhook_oldest_pending_age.Set(std::stod(std::string(webhooks->get(0, 1))));
    metrics.webhook_endpoints_failing.Set(static_cast<double>(webhooks->get_int(0, 2)));
}

}  // namespace smarthost::metrics
