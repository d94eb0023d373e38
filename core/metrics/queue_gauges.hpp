#pragma once
// The queue gauges (smarthost_queue_recipients, smarthost_queue_oldest_age_seconds) are
// facts about the whole database, not this process: they are read from PostgreSQL when
// /metrics is scraped, at most once per refresh interval however many scrapers ask.

#include <boost/asio/awaitable.hpp>
#include <chrono>

namespace smarthost::pg {
class Pool;
}

namespace smarthost::metrics {

class Metrics;

// Queries the counts and sets the gauges unless they were refreshed less than
// `min_interval` ago. When PostgreSQL cannot answer the gauges keep their last values
// (readyz and the pool gauges tell about the outage).
boost::asio::awaitable<void> refresh_queue_gauges(
    pg::Pool& pool, Metrics& metrics,
    std::chrono::milliseconds min_interval = std::chrono::seconds(1));

}  // namespace smarthost::metrics
