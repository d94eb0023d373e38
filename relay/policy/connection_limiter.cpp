#include "relay/policy/connection_limiter.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/policy/rejection_log.hpp"

namespace smarthost::policy {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A replica silent for this many intervals is taken for gone.
constexpr int k_stale_intervals = 3;
// Rows of gone replicas are deleted this often (by any replica; harmless when several do).
constexpr std::chrono::seconds k_purge_interval{30};
constexpr std::chrono::seconds k_withdraw_deadline{2};

// xmax = 0: the row was inserted, not updated, so the database had lost this replica
// (purged as stale after a stall): its counts must all be published again.
constexpr const char* k_heartbeat = R"sql(
INSERT INTO connection_replicas (replica, heartbeat_at) VALUES ($1::uuid, now())
ON CONFLICT (replica) DO UPDATE SET heartbeat_at = now()
RETURNING xmax = 0)sql";

constexpr const char* k_upsert_counts = R"sql(
INSERT INTO connection_counts (replica, account_id, sessions)
SELECT $1::uuid, p.account_id, p.sessions
  FROM unnest($2::bigint[], $3::integer[]) AS p (account_id, sessions)
 WHERE p.sessions > 0
ON CONFLICT (replica, account_id) DO UPDATE SET sessions = EXCLUDED.sessions)sql";

// Accounts published with 0; in a full publication also every account not published.
constexpr const char* k_delete_counts = R"sql(
DELETE FROM connection_counts c
 WHERE c.replica = $1::uuid
   AND (c.account_id IN (SELECT p.account_id
                           FROM unnest($2::bigint[], $3::integer[]) AS p (account_id, sessions)
                          WHERE p.sessions = 0)
        OR ($4::boolean AND c.account_id <> ALL ($2::bigint[]))))sql";

constexpr const char* k_others = R"sql(
SELECT c.account_id, sum(c.sessions)::bigint
  FROM connection_counts c JOIN connection_replicas r ON r.replica = c.replica
 WHERE c.replica <> $1::uuid AND r.heartbeat_at > now() - make_interval(secs => $2::double precision)
 GROUP BY c.account_id)sql";

constexpr const char* k_purge =
    "DELETE FROM connection_replicas "
    "WHERE heartbeat_at < now() - make_interval(secs => $1::double precision)";

constexpr const char* k_withdraw = "DELETE FROM connection_replicas WHERE replica = $1::uuid";

// PostgreSQL array literals of the accounts and their counts.
std::pair<std::string, std::string> array_literals(const ConnectionCounts::Changes& changes) {
    std::string accounts = "{";
    std::string sessions = "{";
    for (const auto& [account_id, count] : changes) {
        if (accounts.size() > 1) {
            accounts += ',';
            sessions += ',';
        }
        accounts += std::to_string(account_id);
        sessions += std::to_string(count);
    }
    return {accounts + '}', sessions + '}'};
}

}  // namespace

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
    if (this != &other) {
        release();
        counts_ = std::move(other.counts_);
        account_id_ = other.account_id_;
        other.counts_.reset();
    }
    return *this;
}

void ConnectionSlot::release() {
    if (counts_) counts_->release(account_id_);
    counts_.reset();
}

struct ConnectionLimiter::Runtime {
    explicit Runtime(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    bool stopped = false;
};

ConnectionLimiter::ConnectionLimiter(asio::any_io_executor executor, pg::Pool& pool,
                                     RejectionLog& rejections, Settings settings)
    : executor_(executor),
      pool_(pool),
      rejections_(rejections),
      settings_(settings),
      replica_(boost::uuids::to_string(boost::uuids::random_generator()())),
      counts_(std::make_shared<ConnectionCounts>()),
      runtime_(std::make_shared<Runtime>(executor)) {}

ConnectionLimiter::~ConnectionLimiter() {
    runtime_->stopped = true;
    runtime_->timer.cancel();
}

void ConnectionLimiter::start() {
    spawn_supervised(executor_, "connection_counts", [this] { return run(); });
}

asio::awaitable<void> ConnectionLimiter::run() {
    const auto runtime = runtime_;  // the timer outlives an early destruction
    while (!runtime->stopped) {
        auto published = co_await publish();
        if (runtime->stopped) co_return;
        if (!published)
            spdlog::warn("connection limits: counts not published: {}", published.error().message);
        runtime->timer.expires_after(settings_.interval);
        co_await runtime->timer.async_wait(use_tuple);
    }
}

void ConnectionLimiter::stop(std::function<void()> done) {
    if (runtime_->stopped) {
        done();
        return;
    }
    runtime_->stopped = true;
    runtime_->timer.cancel();
    spawn_logged(executor_, "connection_counts_withdraw", withdraw(std::move(done)));
}

asio::awaitable<void> ConnectionLimiter::withdraw(std::function<void()> done) {
    // Whichever comes first, the delete or the deadline, ends the wait; `done` runs once.
    auto finished = std::make_shared<bool>(false);
    auto finish = [finished, done = std::move(done)] {
        if (*finished) return;
        *finished = true;
        done();
    };
    auto deadline = std::make_shared<asio::steady_timer>(executor_, k_withdraw_deadline);
    deadline->async_wait([deadline, finish](boost::system::error_code ec) {
        if (!ec) {
            spdlog::warn(
                "connection limits: rows not withdrawn in time; others ignore them "
                "once stale");
            finish();
        }
    });
    auto withdrawn = co_await pool_.query(k_withdraw, replica_);
    if (!withdrawn)
        spdlog::warn("connection limits: rows not withdrawn: {}", withdrawn.error().message);
    deadline->cancel();
    finish();
}

std::optional<ConnectionSlot> ConnectionLimiter::admit(std::int64_t account_id,
                                                       std::string_view account_name,
                                                       std::uint64_t limit) {
    if (limit == 0) return ConnectionSlot();
    if (counts_->try_admit(account_id, limit)) return ConnectionSlot(counts_, account_id);
    spdlog::info("connection limit: account {} has {} sessions here and {} elsewhere (limit {})",
                 account_name, counts_->here(account_id), counts_->elsewhere(account_id), limit);
    metrics::global()
        .connection_limit_hits.Add({{"account", std::string(account_name)}})
        .Increment();
    rejections_.record(account_id, "max_connections");
    return std::nullopt;
}

asio::awaitable<Status> ConnectionLimiter::publish() {
    const bool all = publish_all_;
    const auto changes = all ? counts_->take_all() : counts_->take_changes();
    auto [accounts, sessions] = array_literals(changes);
    const double stale_seconds =
        k_stale_intervals * std::chrono::duration<double>(settings_.interval).count();

    std::vector<pg::Statement> statements;
    statements.push_back({k_heartbeat, {pg::to_param(replica_)}});
    statements.push_back(
        {k_upsert_counts,
         {pg::to_param(replica_), pg::to_param(accounts), pg::to_param(sessions)}});
    statements.push_back({k_delete_counts,
                          {pg::to_param(replica_), pg::to_param(accounts), pg::to_param(sessions),
                           pg::to_param(all)}});
    statements.push_back(
        {k_others, {pg::to_param(replica_), pg::text(std::to_string(stale_seconds))}});
    auto results = co_await pool_.transaction(std::move(statements));
    if (!results) {
        // The changes taken are lost with the transaction: publish everything next time.
        publish_all_ = true;
        co_return results.error();
    }
    publish_all_ = !all && !(*results)[0].empty() && (*results)[0].get_bool(0, 0);

    ConnectionCounts::Counts others;
    const auto& rows = (*results)[3];
    for (std::size_t i = 0; i < rows.size(); ++i)
        others[rows.get_int(i, 0)] = static_cast<std::uint64_t>(rows.get_int(i, 1));
    counts_->replace_elsewhere(std::move(others));

    if (Clock::now() - purged_ >= k_purge_interval) {
        purged_ = Clock::now();
        auto purged = co_await pool_.query(k_purge, pg::text(std::to_string(stale_seconds)));
        if (!purged)
            spdlog::warn("connection limits: stale replicas not purged: {}",
                         purged.error().message);
    }
    co_return Done{};
}

}  // namespace smarthost::policy
