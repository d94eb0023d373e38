#include "relay/policy/limit_events.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <limits>

#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/events/outbox.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::system_clock;

// $1 account, $2 limit name, $3 its value, $4 the window's end (Unix seconds).
const std::string k_write = events::outbox_statement(R"sql(
SELECT 'limit.reached', $1::bigint,
       jsonb_build_object('limit', $2::text, 'value', $3::bigint,
                          'resets_at', to_timestamp($4::bigint))
WHERE NOT EXISTS (
    SELECT 1 FROM webhook_events
    WHERE kind = 'limit.reached' AND account_id = $1::bigint
      AND payload->'data'->>'limit' = $2::text
      AND (payload->'data'->>'resets_at')::timestamptz = to_timestamp($4::bigint)))sql");

// Serializes the check above across replicas.
constexpr const char* k_lock =
    "SELECT pg_advisory_xact_lock(hashtextextended('limit.reached:' || $1::bigint || ':' || "
    "$2::text, 0))";

}  // namespace

struct LimitEvents::State {
    explicit State(pg::Pool& p) : pool(p) {}
    pg::Pool& pool;
    std::size_t pending = 0;
    // (account, limit) → the end of the window already told.
    std::map<std::pair<std::int64_t, std::string>, Clock::time_point> told;
};

namespace {

asio::awaitable<void> write(std::shared_ptr<LimitEvents::State> state, std::int64_t account_id,
                            std::string limit, std::int64_t value, std::int64_t resets_at) {
    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{k_lock, pg::params_of(account_id, limit)});
    statements.push_back(
        pg::Statement{k_write, pg::params_of(account_id, limit, value, resets_at)});
    auto written = co_await state->pool.transaction(std::move(statements));
    --state->pending;
    if (!written)
        spdlog::warn("webhooks: limit.reached of account {} ({}) not written: {}", account_id,
                     limit, written.error().message);
}

}  // namespace

LimitEvents::LimitEvents(pg::Pool& pool) : state_(std::make_shared<State>(pool)) {}

void LimitEvents::reached(const asio::any_io_executor& executor, std::int64_t account_id,
                          std::string limit, std::uint64_t value, Clock::time_point resets_at) {
    auto& told = state_->told;
    const auto key = std::make_pair(account_id, limit);
    if (auto found = told.find(key); found != told.end() && found->second >= resets_at) return;
    if (state_->pending >= k_max_pending) return;
    if (told.size() >= k_max_remembered) {
        const auto now = Clock::now();
        std::erase_if(told, [&](const auto& entry) { return entry.second <= now; });
        if (told.size() >= k_max_remembered) told.clear();
    }
    told[key] = resets_at;
    ++state_->pending;
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(resets_at.time_since_epoch()).count();
    spawn_logged(executor, "limit_event",
                 write(state_, account_id, std::move(limit),
                       static_cast<std::int64_t>(std::min<std::uint64_t>(
                           value, std::numeric_limits<std::int64_t>::max())),
                       seconds));
}

}  // namespace smarthost::policy
