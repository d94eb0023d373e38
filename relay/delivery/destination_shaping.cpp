#include "relay/delivery/destination_shaping.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "core/config.hpp"
#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/queue/failure_category.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr const char* k_read_backoffs = R"sql(
SELECT group_name, throttle, (extract(epoch FROM backoff_until) * 1000000)::bigint, backoffs,
       coalesce(last_reply, ''), version
FROM destination_backoff)sql";

// A compare-and-set: written only over the version the change was computed from ($7; 0
// when there was no row), so two replicas seeing the same push-back halve the throttle once.
constexpr const char* k_write_backoff = R"sql(
INSERT INTO destination_backoff AS d (group_name, throttle, backoff_until, backoffs, last_reply,
                                      version, updated_at)
VALUES ($1, $2::double precision, 'epoch'::timestamptz + $3::bigint * interval '1 microsecond',
        $4::bigint, left($5, 500), 1, 'epoch'::timestamptz + $6::bigint * interval '1 microsecond')
ON CONFLICT (group_name) DO UPDATE
SET throttle = excluded.throttle, backoff_until = excluded.backoff_until,
    backoffs = excluded.backoffs, last_reply = excluded.last_reply, version = d.version + 1,
    updated_at = excluded.updated_at
WHERE d.version = $7::bigint
RETURNING version)sql";

// The hosts with recent connection failures, open circuits first; the most a process reads.
constexpr const char* k_read_circuits = R"sql(
SELECT host, failures, (extract(epoch FROM first_failure_at) * 1000000)::bigint,
       (extract(epoch FROM open_until) * 1000000)::bigint,
       (extract(epoch FROM probe_until) * 1000000)::bigint, coalesce(last_error, ''), version
FROM destination_circuits ORDER BY open_until DESC NULLS LAST LIMIT 10000)sql";

constexpr const char* k_read_circuit = R"sql(
SELECT host, failures, (extract(epoch FROM first_failure_at) * 1000000)::bigint,
       (extract(epoch FROM open_until) * 1000000)::bigint,
       (extract(epoch FROM probe_until) * 1000000)::bigint, coalesce(last_error, ''), version
FROM destination_circuits WHERE host = $1)sql";

// A compare-and-set like k_write_backoff; times in microseconds since the epoch, NULL
// for none.
constexpr const char* k_write_circuit = R"sql(
INSERT INTO destination_circuits AS c (host, failures, first_failure_at, open_until, probe_until,
                                       last_error, version, updated_at)
VALUES ($1, $2::integer, 'epoch'::timestamptz + $3::bigint * interval '1 microsecond',
        'epoch'::timestamptz + $4::bigint * interval '1 microsecond',
        'epoch'::timestamptz + $5::bigint * interval '1 microsecond', left($6, 500), 1,
        'epoch'::timestamptz + $7::bigint * interval '1 microsecond')
ON CONFLICT (host) DO UPDATE
SET failures = excluded.failures, first_failure_at = excluded.first_failure_at,
    open_until = excluded.open_until, probe_until = excluded.probe_until,
    last_error = excluded.last_error, version = c.version + 1, updated_at = excluded.updated_at
WHERE c.version = $8::bigint
RETURNING version)sql";

constexpr const char* k_close_circuit = "DELETE FROM destination_circuits WHERE host = $1";

// Rows whose window (closed) or cool-down (open, never probed since) ended a window ago.
constexpr const char* k_purge_circuits = R"sql(
DELETE FROM destination_circuits
WHERE coalesce(open_until, first_failure_at) < 'epoch'::timestamptz + $1::bigint * interval '1 microsecond')sql";

// When the database cannot be asked for quota, the part waits this long.
constexpr auto k_quota_unavailable_retry = 30s;

std::int64_t micros(SystemTime t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::optional<SystemTime> time_or_none(const pg::Rows& rows, std::size_t row, std::size_t column) {
    if (rows.is_null(row, column)) return std::nullopt;
    return SystemTime(std::chrono::microseconds(rows.get_int(row, column)));
}

CircuitState circuit_of(const pg::Rows& rows, std::size_t row) {
    CircuitState state;
    state.failures = static_cast<std::uint32_t>(rows.get_int(row, 1));
    state.first_failure_at = SystemTime(std::chrono::microseconds(rows.get_int(row, 2)));
    state.open_until = time_or_none(rows, row, 3);
    state.probe_until = time_or_none(rows, row, 4);
    state.last_error = std::string(rows.get(row, 5));
    state.version = rows.get_int(row, 6);
    return state;
}

pg::Param micros_or_null(const std::optional<SystemTime>& t) {
    return t ? pg::to_param(micros(*t)) : pg::null_param();
}

// The MX hosts in preference order, equal preferences by name: the first is the one a
// group is chosen by, the same for every process (plan_mx shuffles equal ones).
std::vector<std::string> mx_hosts_of(const dns::MxAnswer& answer) {
    auto records = answer.records;
    std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
        return a.preference != b.preference ? a.preference < b.preference : a.exchange < b.exchange;
    });
    std::vector<std::string> hosts;
    for (const auto& record : records)
        if (record.exchange != "." && !record.exchange.empty()) hosts.push_back(record.exchange);
    return hosts;
}

}  // namespace

const char* hold_reason_name(HoldReason reason) {
    switch (reason) {
        case HoldReason::rate:
            return "rate";
        case HoldReason::backoff:
            return "backoff";
        case HoldReason::circuit:
            break;
    }
    return "circuit";
}

std::vector<queue::AttemptResult> not_attempted(
    const std::vector<const queue::ClaimedMessage*>& messages, SystemTime until) {
    std::vector<queue::AttemptResult> out;
    for (const auto* message : messages) {
        for (const auto& recipient : message->recipients) {
            queue::AttemptResult result;
            result.message = message;
            result.recipient = &recipient;
            result.not_attempted_until = until;
            out.push_back(std::move(result));
        }
    }
    return out;
}

DestinationShaping::DestinationShaping(pg::Pool& pool, dns::Resolver& resolver,
                                       const DeliveryConfig& config)
    : pool_(pool),
      resolver_(resolver),
      config_(config),
      groups_(config.shaping.groups),
      leases_(pool) {
    for (const auto& group : groups_.all())
        metrics::global().destination_throttle.Add({{"group", group.name}}).Set(1.0);
}

asio::awaitable<const DestinationGroupConfig*> DestinationShaping::group_of(std::string domain) {
    if (config_.upstream.applies_to(domain)) co_return nullptr;
    if (const auto* group = groups_.for_domain(domain)) co_return group;
    if (!groups_.has_mx_suffixes()) co_return nullptr;
    auto answer = co_await resolver_.mx(domain);
    if (!answer || answer->status != dns::AnswerStatus::ok) co_return nullptr;
    co_return groups_.choose(domain, mx_hosts_of(*answer));
}

const BackoffState& DestinationShaping::backoff_of(const std::string& group) const {
    static const BackoffState never;
    const auto it = backoffs_.find(group);
    return it == backoffs_.end() ? never : it->second;
}

std::size_t DestinationShaping::max_connections(const DestinationGroupConfig& group,
                                                SystemTime now) const {
    if (group.max_connections == 0) return 0;
    const double throttle = throttle_at(backoff_of(group.name), config_.shaping, now);
    return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(
                                        static_cast<double>(group.max_connections) * throttle)));
}

asio::awaitable<void> DestinationShaping::refresh(SystemTime now, bool force) {
    if (!force && now >= refreshed_at_ && now - refreshed_at_ < config_.shaping.state_refresh)
        co_return;
    refreshed_at_ = now;
    auto rows = co_await pool_.query(k_read_backoffs);
    if (!rows) {
        spdlog::warn("delivery: reading destination backoffs failed: {}", rows.error().message);
        co_return;
    }
    std::map<std::string, BackoffState> read;
    for (std::size_t row = 0; row < rows->size(); ++row) {
        BackoffState state;
        state.throttle = std::stod(std::string(rows->get(row, 1)));
        state.backoff_until = SystemTime(std::chrono::microseconds(rows->get_int(row, 2)));
        state.backoffs = static_cast<std::uint64_t>(rows->get_int(row, 3));
        state.last_reply = std::string(rows->get(row, 4));
        state.version = rows->get_int(row, 5);
        read.emplace(std::string(rows->get(row, 0)), std::move(state));
    }
    backoffs_ = std::move(read);
    if (now - circuits_purged_at_ > 1min) {
        circuits_purged_at_ = now;
        auto purged =
            co_await pool_.query(k_purge_circuits, micros(now - config_.shaping.circuit_window));
        if (!purged) spdlog::warn("delivery: purging circuits failed: {}", purged.error().message);
    }
    auto circuits = co_await pool_.query(k_read_circuits);
    if (circuits) {
        circuits_.clear();
        for (std::size_t row = 0; row < circuits->size(); ++row)
            circuits_.emplace(std::string(circuits->get(row, 0)), circuit_of(*circuits, row));
    } else {
        spdlog::warn("delivery: reading circuits failed: {}", circuits.error().message);
    }
    for (const auto& group : groups_.all())
        metrics::global()
            .destination_throttle.Add({{"group", group.name}})
            .Set(throttle_at(backoff_of(group.name), config_.shaping, now));
}

void DestinationShaping::count_held(const DestinationGroupConfig& group, HoldReason reason,
                                    std::size_t messages) {
    if (messages == 0) return;
    metrics::global()
        .destination_deferred.Add({{"group", group.name}, {"reason", hold_reason_name(reason)}})
        .Increment(static_cast<double>(messages));
}

void DestinationShaping::count_held(const DestinationGroupConfig* group, HoldReason reason,
                                    std::size_t messages) {
    if (group) {
        count_held(*group, reason, messages);
        return;
    }
    if (messages == 0) return;
    metrics::global()
        .destination_deferred.Add({{"group", "none"}, {"reason", hold_reason_name(reason)}})
        .Increment(static_cast<double>(messages));
}

asio::awaitable<Admission> DestinationShaping::admit(const DestinationGroupConfig& group,
                                                     std::size_t messages, SystemTime now) {
    co_await refresh(now);
    const BackoffState& state = backoff_of(group.name);
    Admission admission{messages, now, HoldReason::rate};
    if (in_backoff(state, now)) {
        admission = Admission{0, state.backoff_until, HoldReason::backoff};
    } else if (group.messages_per_minute > 0 || group.messages_per_hour > 0) {
        const double throttle = throttle_at(state, config_.shaping, now);
        const GroupRates rates{throttled(group.messages_per_minute, throttle),
                               throttled(group.messages_per_hour, throttle)};
        auto grant = co_await leases_.take(group.name, rates, messages, now);
        if (!grant) {
            spdlog::warn("delivery: leasing quota of destination group {} failed: {}", group.name,
                         grant.error().message);
            admission = Admission{0, now + k_quota_unavailable_retry, HoldReason::rate};
        } else {
            admission = Admission{grant->granted, grant->retry_at, HoldReason::rate};
        }
    }
    count_held(group, admission.reason, messages - admission.allowed);
    co_return admission;
}

asio::awaitable<SystemTime> DestinationShaping::push_back(const DestinationGroupConfig& group,
                                                          std::string reply, SystemTime now) {
    co_await refresh(now);
    // Another replica may have changed the row since it was read: read again and retry.
    for (int round = 0; round < 3; ++round) {
        const BackoffState current = backoff_of(group.name);
        auto next = after_push_back(current, config_.shaping, now, reply);
        if (!next) co_return current.backoff_until;  // this episode's backoff already holds
        auto written = co_await pool_.query(
            k_write_backoff, group.name, fmt::format("{}", next->throttle),
            micros(next->backoff_until), static_cast<std::int64_t>(next->backoffs),
            next->last_reply, micros(now), current.version);
        if (!written) {
            spdlog::warn("delivery: recording the push-back of destination group {} failed: {}",
                         group.name, written.error().message);
            backoffs_[group.name] = *next;  // this process backs off all the same
            co_return next->backoff_until;
        }
        if (written->size() == 1) {
            next->version = written->get_int(0, 0);
            backoffs_[group.name] = *next;
            metrics::global().destination_backoffs.Add({{"group", group.name}}).Increment();
            metrics::global().destination_throttle.Add({{"group", group.name}}).Set(next->throttle);
            spdlog::warn("delivery: destination group {} backs off until {} (throttle {}): {}",
                         group.name, micros(next->backoff_until) / 1000000, next->throttle,
                         next->last_reply);
            co_return next->backoff_until;
        }
        co_await refresh(now, true);
    }
    co_return backoff_of(group.name).backoff_until;
}

asio::awaitable<bool> DestinationShaping::write_circuit(const std::string& host,
                                                        const CircuitState& next,
                                                        std::int64_t version, SystemTime now) {
    std::vector<pg::Param> params;
    params.push_back(pg::text(host));
    params.push_back(pg::to_param(static_cast<std::int64_t>(next.failures)));
    params.push_back(pg::to_param(micros(next.first_failure_at)));
    params.push_back(micros_or_null(next.open_until));
    params.push_back(micros_or_null(next.probe_until));
    params.push_back(pg::text(next.last_error));
    params.push_back(pg::to_param(micros(now)));
    params.push_back(pg::to_param(version));
    auto written = co_await pool_.execute(k_write_circuit, std::move(params));
    if (!written) {
        spdlog::warn("delivery: recording the circuit of {} failed: {}", host,
                     written.error().message);
        co_return false;
    }
    if (written->size() != 1) co_return false;
    CircuitState stored = next;
    stored.version = written->get_int(0, 0);
    circuits_[host] = std::move(stored);
    co_return true;
}

asio::awaitable<void> DestinationShaping::reload_circuit(const std::string& host) {
    auto rows = co_await pool_.query(k_read_circuit, host);
    if (!rows) co_return;
    if (rows->size() == 1) {
        circuits_[host] = circuit_of(*rows, 0);
    } else {
        circuits_.erase(host);
    }
}

asio::awaitable<HostPass> DestinationShaping::before_host(std::string host, SystemTime now) {
    co_await refresh(now);
    const auto it = circuits_.find(host);
    if (it == circuits_.end()) co_return HostPass{};
    switch (gate(it->second, now)) {
        case HostGate::pass:
            co_return HostPass{};
        case HostGate::skip:
            co_return HostPass{true, reopens_at(it->second)};
        case HostGate::probe:
            break;
    }
    // Half-open: one worker of all replicas probes; the others skip until it is done.
    const auto& t = config_.timeouts;
    const auto probe_until = now + t.connect + t.greeting;
    const CircuitState current = it->second;
    if (co_await write_circuit(host, with_probe(current, probe_until), current.version, now)) {
        spdlog::info("delivery: probing {} (circuit half-open)", host);
        co_return HostPass{};
    }
    co_await reload_circuit(host);
    co_return HostPass{true, probe_until};
}

asio::awaitable<void> DestinationShaping::after_host(std::string host,
                                                     const queue::AttemptResult* failure,
                                                     SystemTime now) {
    if (!failure || !is_connection_failure(*failure)) {
        // The host greeted: it is up, whatever came after.
        if (circuits_.erase(host) > 0) {
            auto closed = co_await pool_.query(k_close_circuit, host);
            if (!closed)
                spdlog::warn("delivery: closing the circuit of {} failed: {}", host,
                             closed.error().message);
        }
        co_return;
    }
    for (int round = 0; round < 3; ++round) {
        const auto it = circuits_.find(host);
        const CircuitState current = it == circuits_.end() ? CircuitState{} : it->second;
        const CircuitState next =
            after_failure(current, config_.shaping, now, failure->reply.summary());
        if (co_await write_circuit(host, next, current.version, now)) {
            if (next.open_until && !current.open_until)
                spdlog::warn("delivery: circuit of {} open after {} connection failures: {}", host,
                             next.failures, next.last_error);
            co_return;
        }
        co_await reload_circuit(host);
    }
}

asio::awaitable<std::optional<SystemTime>> DestinationShaping::react(
    const DestinationGroupConfig* group, const queue::AttemptResult& result) {
    if (!group || !result.remote || result.verdict == queue::Verdict::delivered ||
        queue::classify_failure(result) != queue::FailureCategory::rate_limited)
        co_return std::nullopt;
    auto until =
        co_await push_back(*group, result.reply.summary(), std::chrono::system_clock::now());
    co_return until;
}

}  // namespace smarthost::delivery
