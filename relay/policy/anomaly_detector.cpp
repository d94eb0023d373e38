#include "relay/policy/anomaly_detector.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/events/outbox.hpp"
#include "relay/policy/anomaly_rules.hpp"
#include "relay/queue/holds.hpp"

namespace smarthost::policy {

namespace asio = boost::asio;

namespace {

// Serializes the decision about one (rule, unit) across replicas until the commit.
constexpr const char* k_lock_unit = "SELECT pg_advisory_xact_lock(hashtext($1::text))";

// $1 rule, $2 account, $3 credential or NULL, $4 action, $5 evidence, $6 window seconds,
// $7 sub-user or NULL. A unit trips a rule once per window, not while the rule's hold on
// it is active (an operator's release is respected for a window), and not once its
// account is suspended. A sub-user cannot be suspended: its suspend is a hold.
constexpr const char* k_trip = R"sql(
WITH trip AS (
    INSERT INTO rule_trips (rule, account_id, credential_id, sub_user, action, evidence)
    SELECT $1::text, $2::bigint, $3::bigint, $7::text, $4::text, $5::jsonb
     WHERE NOT EXISTS (SELECT 1 FROM rule_trips t
                        WHERE t.account_id = $2 AND t.rule = $1
                          AND t.credential_id IS NOT DISTINCT FROM $3::bigint
                          AND t.sub_user IS NOT DISTINCT FROM $7::text
                          AND t.created_at > now() - $6::bigint * interval '1 second')
       AND NOT EXISTS (SELECT 1 FROM holds h
                        WHERE h.account_id = $2 AND h.credential_id IS NOT DISTINCT FROM $3::bigint
                          AND h.sub_user IS NOT DISTINCT FROM $7::text AND h.reason = 'rule:' || $1
                          AND h.released_at IS NULL)
       AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = $2 AND a.status = 'active')
    RETURNING id
), hold AS (
    INSERT INTO holds (account_id, credential_id, sub_user, reason, evidence, created_by)
    SELECT $2, $3::bigint, $7::text, 'rule:' || $1, $5::jsonb, 'rule:' || $1
      FROM trip WHERE $4 = 'hold' OR ($4 = 'suspend' AND $7::text IS NOT NULL)
    ON CONFLICT DO NOTHING
    RETURNING id
), suspended AS (
    UPDATE accounts a SET status = 'suspended', suspended_reason = 'anomaly rule ' || $1,
           updated_at = now()
      FROM trip
     WHERE $4 = 'suspend' AND $3::bigint IS NULL AND $7::text IS NULL AND a.id = $2
       AND a.status = 'active'
    RETURNING a.id, a.suspended_reason
), disabled AS (
    UPDATE credentials c SET enabled = false
      FROM trip
     WHERE $4 = 'suspend' AND c.id = $3::bigint AND c.account_id = $2 AND c.enabled
    RETURNING c.id
), )sql";

constexpr const char* k_trip_tail = R"sql(
SELECT (SELECT count(*) FROM trip), (SELECT count(*) FROM hold),
       (SELECT count(*) FROM suspended) + (SELECT count(*) FROM disabled))sql";

// A suspension by a rule is told to webhooks like one through the API (account.suspended,
// admin-api/accounts.cpp), in the same statement.
const std::string& trip_sql() {
    static const std::string sql =
        std::string(k_trip) +
        events::outbox_ctes("webhook",
                            "SELECT 'account.suspended', s.id, jsonb_build_object('status', "
                            "'suspended', 'reason', s.suspended_reason) FROM suspended s") +
        k_trip_tail;
    return sql;
}

std::vector<Observation> observations_of(const pg::Rows& rows) {
    std::vector<Observation> observations;
    for (std::size_t row = 0; row < rows.size(); ++row) {
        Observation observation;
        observation.account_id = rows.get_int(row, 0);
        const auto unit = rows.get(row, 3);
        if (unit == "credential") observation.credential_id = rows.get_int(row, 1);
        if (unit == "sub_user") observation.sub_user = std::string(rows.get(row, 2));
        observation.observed = rows.get_int(row, 4);
        observation.total = rows.get_int(row, 5);
        if (!rows.is_null(row, 6)) observation.baseline = std::stod(std::string(rows.get(row, 6)));
        if (!rows.is_null(row, 7)) observation.refused = rows.get_int(row, 7);
        observations.push_back(observation);
    }
    return observations;
}

pg::Param optional_id(std::optional<std::int64_t> id) {
    return id ? pg::to_param(*id) : pg::null_param();
}

// The trip and its action, the holds that follow the account's and the credential's new
// state, and the jobs that park their queued mail: one transaction.
std::vector<pg::Statement> trip_statements(Rule rule, const AnomalyRule& settings,
                                           const Observation& observation) {
    const std::string name(rule_name(rule));
    const std::string actor = "rule:" + name;
    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{
        k_lock_unit,
        pg::params_of("rule_trip:" + name + ":" + std::to_string(observation.account_id) + ":" +
                      (observation.credential_id ? std::to_string(*observation.credential_id)
                                                 : std::string("*")) +
                      ":" + observation.sub_user.value_or("*"))});
    std::vector<pg::Param> params;
    params.push_back(pg::text(name));
    params.push_back(pg::to_param(observation.account_id));
    params.push_back(optional_id(observation.credential_id));
    params.push_back(pg::text(std::string(rule_action_name(settings.action))));
    params.push_back(pg::text(evidence_json(rule, settings, observation)));
    params.push_back(pg::to_param(static_cast<std::int64_t>(settings.window.count())));
    params.push_back(observation.sub_user ? pg::text(*observation.sub_user) : pg::null_param());
    statements.push_back(pg::Statement{trip_sql(), std::move(params)});
    statements.push_back(pg::Statement{std::string(queue::reconcile_account_hold_sql()),
                                       pg::params_of(observation.account_id, actor)});
    std::vector<pg::Param> credential;
    credential.push_back(optional_id(observation.credential_id));
    credential.push_back(pg::text(actor));
    statements.push_back(
        pg::Statement{std::string(queue::reconcile_credential_hold_sql()), std::move(credential)});
    statements.push_back(pg::Statement{std::string(queue::start_hold_jobs_sql()), {}});
    return statements;
}

}  // namespace

// How long a unit's volume baseline is reused. The baseline spans days, so an hour moves
// it little, and a busy unit costs one count over its days per hour, not one per round.
constexpr std::chrono::minutes k_baseline_reuse{60};
// A bound on the baselines kept: past it, the cache starts over.
constexpr std::size_t k_max_cached_baselines = 100000;

struct AnomalyDetector::Impl {
    using Unit = std::tuple<std::int64_t, std::optional<std::int64_t>, std::optional<std::string>>;
    struct CachedBaseline {
        double per_window = 0;
        std::chrono::steady_clock::time_point expires;
    };

    asio::any_io_executor executor;
    pg::Pool& pool;
    AbuseConfig config;
    asio::steady_timer timer;
    bool running = false;
    std::map<Unit, CachedBaseline> baselines;

    Impl(asio::any_io_executor ex, pg::Pool& p, AbuseConfig c)
        : executor(ex), pool(p), config(c), timer(ex) {}

    asio::awaitable<Result<bool>> act(Rule rule, const AnomalyRule& settings,
                                      const Observation& observation) {
        auto results = co_await pool.transaction(trip_statements(rule, settings, observation));
        if (!results) co_return results.error();
        const auto& row = results->at(1);
        if (row.get_int(0, 0) == 0) co_return false;
        metrics::global()
            .abuse_rule_trips
            .Add({{"rule", std::string(rule_name(rule))},
                  {"action", std::string(rule_action_name(settings.action))}})
            .Increment();
        spdlog::warn("anomaly rule {} tripped for account {}{}: {} ({})", rule_name(rule),
                     observation.account_id,
                     observation.credential_id
                         ? " credential " + std::to_string(*observation.credential_id)
                     : observation.sub_user ? " sub-user " + *observation.sub_user
                                            : std::string(),
                     rule_action_name(settings.action), evidence_json(rule, settings, observation));
        co_return true;
    }

    // The volume rule's rows come without the baseline: each unit's, kept for a while.
    asio::awaitable<Status> fill_baselines(const AnomalyRule& settings,
                                           std::vector<Observation>& observations) {
        const auto now = std::chrono::steady_clock::now();
        for (auto& observation : observations) {
            const Unit unit{observation.account_id, observation.credential_id,
                            observation.sub_user};
            if (const auto it = baselines.find(unit);
                it != baselines.end() && it->second.expires > now) {
                observation.baseline = it->second.per_window;
                continue;
            }
            std::vector<pg::Param> params;
            params.push_back(pg::to_param(static_cast<std::int64_t>(settings.window.count())));
            params.push_back(pg::to_param(static_cast<std::int64_t>(config.baseline.count())));
            params.push_back(pg::to_param(observation.account_id));
            params.push_back(optional_id(observation.credential_id));
            params.push_back(observation.sub_user ? pg::text(*observation.sub_user)
                                                  : pg::null_param());
            auto rows =
                co_await pool.execute(std::string(volume_baseline_query()), std::move(params));
            if (!rows) co_return rows.error();
            observation.baseline = std::stod(std::string(rows->get(0, 0)));
            if (baselines.size() >= k_max_cached_baselines) baselines.clear();
            baselines[unit] = CachedBaseline{*observation.baseline, now + k_baseline_reuse};
        }
        co_return Done{};
    }

    asio::awaitable<Result<std::size_t>> evaluate() {
        std::size_t new_trips = 0;
        for (const Rule rule : all_rules()) {
            const AnomalyRule& settings = rule_settings(config, rule);
            if (!settings.enabled) continue;
            std::vector<pg::Param> params;
            params.push_back(pg::to_param(static_cast<std::int64_t>(settings.window.count())));
            params.push_back(pg::to_param(static_cast<std::int64_t>(settings.threshold)));
            auto rows = co_await pool.execute(std::string(rule_query(rule)), std::move(params));
            if (!rows) co_return rows.error();
            auto observations = observations_of(*rows);
            if (rule == Rule::volume) {
                if (auto filled = co_await fill_baselines(settings, observations); !filled)
                    co_return filled.error();
            }
            for (const auto& observation : trips(rule, settings, observations)) {
                auto acted = co_await act(rule, settings, observation);
                if (!acted) co_return acted.error();
                if (*acted) ++new_trips;
            }
        }
        co_return new_trips;
    }

    asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
        while (self->running) {
            if (auto done = co_await self->evaluate(); !done)
                spdlog::warn("anomaly rules: {}", done.error().message);
            self->timer.expires_after(self->config.interval);
            co_await self->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
};

AnomalyDetector::AnomalyDetector(asio::any_io_executor executor, pg::Pool& pool, AbuseConfig config)
    : impl_(std::make_shared<Impl>(executor, pool, config)) {}

AnomalyDetector::~AnomalyDetector() {
    stop();
}

asio::awaitable<Result<std::size_t>> AnomalyDetector::evaluate() {
    auto impl = impl_;
    co_return co_await impl->evaluate();
}

void AnomalyDetector::start() {
    if (impl_->running) return;
    impl_->running = true;
    spawn_supervised(impl_->executor, "anomaly_rules", [impl = impl_] { return impl->loop(impl); });
}

void AnomalyDetector::stop() {
    impl_->running = false;
    impl_->timer.cancel();
}

}  // namespace smarthost::policy
