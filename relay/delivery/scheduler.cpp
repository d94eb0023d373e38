#include "relay/delivery/scheduler.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <random>
#include <set>

#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/delivery/attempt_recording.hpp"
#include "relay/delivery/body_budget.hpp"
#include "relay/delivery/bounce_reports.hpp"
#include "relay/delivery/connection_slots.hpp"
#include "relay/delivery/delivery_metrics.hpp"
#include "relay/delivery/destination_shaping.hpp"
#include "relay/delivery/domain_delivery.hpp"
#include "relay/delivery/pending_reports.hpp"
#include "relay/delivery/queue_listener.hpp"
#include "relay/delivery/transport_security.hpp"
#include "relay/dns/address_policy.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/queue/claims.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/queue/retention.hpp"
#include "relay/queue/retry_schedule.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using queue::ClaimedMessage;

namespace {

// How long until the earliest queued or deferred recipient is due (the partial index
// recipients_due_idx answers it): the claim loop sleeps no longer than that.
constexpr const char* k_earliest_due = R"sql(
SELECT (extract(epoch FROM min(next_attempt_at) - now()) * 1000)::bigint
FROM recipients WHERE state IN ('queued', 'deferred'))sql";

// The fewest messages a domain batch hands to each of its connections.
constexpr std::size_t k_messages_per_connection = 8;

// A claim finding nothing due while something is "due now" (another worker holds it)
// must not spin: at least this long between claims.
constexpr auto k_min_idle_wait = 250ms;

std::string make_owner(const std::string& hostname) {
    std::random_device device;
    return fmt::format("{}:{}:{:08x}", hostname, ::getpid(), device());
}

queue::RetryPolicy retry_policy(const DeliveryConfig& c) {
    queue::RetryPolicy p;
    p.first_retry = c.first_retry;
    p.factor = c.retry_backoff_factor;
    p.max_interval = c.max_retry;
    p.jitter = c.retry_jitter;
    p.max_lifetime = c.max_queue_lifetime;
    p.delay_warning = c.delay_warning;
    return p;
}

PendingReports::Settings pending_report_settings(const std::string& hostname,
                                                 const DeliveryConfig& c) {
    PendingReports::Settings s;
    s.dsn.reporting_host = hostname;
    s.queue_lifetime = c.max_queue_lifetime;
    return s;
}

// How often the delivery role looks for reports that waited too long (PendingReports).
constexpr auto k_report_sweep_interval = std::chrono::seconds(30);

queue::RetentionPeriods retention_periods(const DeliveryConfig& c) {
    return queue::RetentionPeriods{c.body_retention, c.event_retention, c.rejection_retention,
                                   c.suspicious_login_retention};
}

std::vector<std::int64_t> ids_of(const std::vector<const ClaimedMessage*>& messages) {
    std::vector<std::int64_t> ids;
    for (const auto* message : messages)
        for (const auto& recipient : message->recipients)
            ids.push_back(recipient.id);
    return ids;
}

}  // namespace

struct DeliveryService::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor executor_in, pg::Pool& pool_in, queue::GroupCommitter& committer_in,
         dns::Resolver& resolver_in, Settings settings_in)
        : executor(executor_in),
          pool(pool_in),
          committer(committer_in),
          resolver(resolver_in),
          settings(std::move(settings_in)),
          config(settings.delivery),
          schedule(retry_policy(config)),
          claims(pool),
          pending_reports(pool, pending_report_settings(settings.hostname, config)),
          address_policy(config.allow_destination_networks),
          slots(executor, config.concurrency),
          security(pool, resolver, address_policy, transport_security_settings(config)),
          shaping(pool, resolver, config),
          random(std::random_device{}()),
          owner(make_owner(settings.hostname)),
          wake(executor),
          lease_timer(executor),
          purge_timer(executor),
          sweep_timer(executor),
          drain_timer(executor),
          bodies(config.max_body_bytes_in_memory, [this] { notify(); }) {
        const auto& upstream = config.upstream;
        if (upstream.configured() && !upstream.username.empty() &&
            upstream.tls != OutboundTls::verify && !upstream.allow_auth_without_verified_tls)
            spdlog::warn(
                "delivery: the upstream relay {} is used without verifying its certificate, so "
                "its password is never sent and the mail for it stays deferred; set "
                "[delivery.upstream] tls = \"verify\" (or allow_auth_without_verified_tls = true)",
                upstream.host);
        if (!config.source_address.empty()) {
            boost::system::error_code ec;
            asio::ip::make_address(config.source_address, ec);
            if (ec)
                throw std::invalid_argument("delivery.source_address: \"" + config.source_address +
                                            "\" is not an IP address");
        }
    }

    asio::any_io_executor executor;
    pg::Pool& pool;
    queue::GroupCommitter& committer;
    dns::Resolver& resolver;
    Settings settings;
    const DeliveryConfig& config;
    queue::RetrySchedule schedule;
    queue::Claims claims;
    PendingReports pending_reports;
    dns::AddressPolicy address_policy;
    ConnectionSlots slots;
    TransportSecurity security;
    DestinationShaping shaping;
    std::mt19937_64 random;
    std::string owner;
    std::unique_ptr<QueueListener> listener;

    asio::steady_timer wake;
    asio::steady_timer lease_timer;
    asio::steady_timer purge_timer;
    asio::steady_timer sweep_timer;
    asio::steady_timer drain_timer;
    // After the timers: notify() uses `wake`, and the budget stops calling it when it goes.
    BodyBudget bodies;
    bool wake_pending = false;
    bool stopping = false;
    bool claiming = false;  // the claim loop is running
    bool drained = false;
    std::size_t active = 0;  // domain batches in progress
    std::size_t wakeups = 0;
    std::set<std::int64_t> leased;  // recipients this process holds, for lease extension
    std::function<void()> before_claim;

    void notify() {
        wake_pending = true;
        wake.cancel();
    }

    DomainRoute route(const DestinationGroupConfig* group) {
        return DomainRoute{executor, resolver, address_policy, config, settings.hostname,
                           random,   slots,    security,       group,  &shaping};
    }

    AttemptRecorder recorder() {
        return AttemptRecorder{claims, schedule,          committer,
                               owner,  settings.hostname, pending_reports};
    }

    // ---- claiming --------------------------------------------------------------------

    // Run by spawn_supervised: after an exception it starts again, and `claiming` is false
    // in between so that a drain does not wait for it.
    asio::awaitable<void> claim_loop() {
        auto self = shared_from_this();
        claiming = true;
        struct NotClaiming {
            bool& claiming;
            ~NotClaiming() { claiming = false; }
        } not_claiming_on_exit{claiming};
        while (!stopping) {
            wake_pending = false;
            bool more = false;
            if (can_claim()) {
                if (before_claim) before_claim();
                const std::size_t max_domains = config.concurrency - active;
                auto claim = co_await claims.claim(
                    owner, std::chrono::duration_cast<std::chrono::milliseconds>(config.lease),
                    config.batch_recipients, max_domains,
                    std::min(config.max_claim_body_bytes, bodies.room()));
                if (!claim) {
                    spdlog::warn("delivery: claiming failed: {}", claim.error().message);
                } else if (stopping) {
                    auto released = co_await claims.release(owner, claim->recipient_ids());
                    (void)released;
                } else if (!claim->domains.empty()) {
                    more = claim->recipients >= config.batch_recipients ||
                           claim->domains.size() >= max_domains || claim->byte_cap_reached;
                    bodies.hold(*claim);
                    for (auto& batch : claim->domains)
                        start_batch(std::move(batch));
                }
            }
            if (stopping) break;
            if ((more && can_claim()) || wake_pending) continue;
            auto wait = co_await idle_wait();
            if (stopping || wake_pending) continue;
            wake.expires_after(wait);
            co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    // A free connection slot for another domain, and room for another body.
    bool can_claim() const { return active < config.concurrency && bodies.room() > 0; }

    // Until the next poll, or sooner when deferred mail falls due before it.
    asio::awaitable<Clock::duration> idle_wait() {
        Clock::duration wait = config.poll_interval;
        if (!can_claim()) co_return wait;  // a finishing batch wakes us
        auto rows = co_await pool.query(k_earliest_due);
        if (rows && !rows->empty() && !rows->is_null(0, 0)) {
            const auto due = std::chrono::milliseconds(rows->get_int(0, 0));
            wait = std::clamp<Clock::duration>(due, k_min_idle_wait, wait);
        }
        co_return wait;
    }

    // ---- one domain batch ------------------------------------------------------------

    // A batch's messages split into parts of at least k_messages_per_connection, at most
    // as many as the domain may have connections; each part is one worker with its own
    // connection. Small batches (a trickle of new mail) stay on one connection: a new
    // TCP and TLS handshake per message or two would cost the receiver more than the
    // parallelism gains, and the next claim's batch runs beside this one anyway.
    void start_batch(queue::DomainBatch batch) {
        ++active;
        auto shared = std::make_shared<queue::DomainBatch>(std::move(batch));
        for (const auto& message : shared->messages)
            for (const auto& recipient : message.recipients)
                leased.insert(recipient.id);
        const std::size_t limit = config.limit_for(shared->domain);
        const std::size_t parts =
            (shared->messages.size() + k_messages_per_connection - 1) / k_messages_per_connection;
        const std::size_t workers = std::max<std::size_t>(1, std::min(limit, parts));
        auto remaining = std::make_shared<std::size_t>(workers);
        for (std::size_t w = 0; w < workers; ++w) {
            std::vector<const ClaimedMessage*> part;
            for (std::size_t i = w; i < shared->messages.size(); i += workers)
                part.push_back(&shared->messages[i]);
            asio::co_spawn(executor, run_worker(shared, std::move(part)),
                           [self = shared_from_this(), remaining](std::exception_ptr failure) {
                               if (failure) report_task_failure("delivery_batch", failure);
                               if (--*remaining > 0) return;
                               --self->active;
                               self->notify();
                           });
        }
    }

    asio::awaitable<void> run_worker(std::shared_ptr<queue::DomainBatch> batch,
                                     std::vector<const ClaimedMessage*> part) {
        auto self = shared_from_this();
        const std::string domain = batch->domain;
        const std::vector<std::int64_t> part_ids = ids_of(part);
        const DestinationGroupConfig* group = co_await shaping.group_of(domain);
        co_await slots.acquire(domain, config.limit_for(domain));
        const std::size_t group_limit =
            group ? shaping.max_connections(*group, std::chrono::system_clock::now()) : 0;
        if (group_limit > 0) co_await slots.acquire_group(group->name, group_limit);
        std::optional<std::vector<queue::AttemptResult>> results;
        try {
            // What the group's rates or backoff hold back goes back to the queue unattempted.
            std::vector<queue::AttemptResult> held_back;
            if (group) held_back = co_await admit(*group, part);
            results.emplace();
            if (!part.empty()) results = co_await deliver_domain(route(group), domain, part);
            results->insert(results->end(), held_back.begin(), held_back.end());
        } catch (const std::exception& e) {
            spdlog::error("delivery: {}: {}", domain, e.what());
        }
        if (group_limit > 0) slots.release_group(group->name);
        slots.release(domain);
        if (results) {
            co_await record_attempts(recorder(), std::move(*results));
        } else {
            auto released = co_await claims.release(owner, part_ids);
            (void)released;
        }
        for (const auto id : part_ids)
            leased.erase(id);
    }

    // Trims `part` to what the group may be sent now; the rest, not attempted.
    asio::awaitable<std::vector<queue::AttemptResult>> admit(
        const DestinationGroupConfig& group, std::vector<const ClaimedMessage*>& part) {
        const auto admission =
            co_await shaping.admit(group, part.size(), std::chrono::system_clock::now());
        if (admission.allowed >= part.size()) co_return std::vector<queue::AttemptResult>{};
        const std::vector<const ClaimedMessage*> rest(
            part.begin() + static_cast<std::ptrdiff_t>(admission.allowed), part.end());
        part.resize(admission.allowed);
        co_return not_attempted(rest, admission.retry_at);
    }

    // ---- leases and housekeeping -----------------------------------------------------

    asio::awaitable<void> lease_loop() {
        auto self = shared_from_this();
        const auto lease = std::chrono::duration_cast<std::chrono::milliseconds>(config.lease);
        while (!drained) {
            lease_timer.expires_after(lease / 3);
            co_await lease_timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (drained || leased.empty()) continue;
            auto extended = co_await claims.extend_lease(
                owner, std::vector<std::int64_t>(leased.begin(), leased.end()), lease);
            if (!extended)
                spdlog::warn("delivery: extending leases failed: {}", extended.error().message);
        }
    }

    asio::awaitable<void> purge_loop() {
        auto self = shared_from_this();
        constexpr std::size_t limit = 1000;
        while (!stopping) {
            purge_timer.expires_after(config.purge_interval);
            co_await purge_timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (stopping) break;
            for (;;) {
                auto purged = co_await queue::purge(pool, retention_periods(config),
                                                    std::chrono::system_clock::now(), limit);
                if (!purged) {
                    spdlog::warn("delivery: purge failed: {}", purged.error().message);
                    break;
                }
                count_purged(*purged);
                if (purged->any())
                    spdlog::info(
                        "delivery: purged {} bodies, {} events, {} rejections and {} "
                        "suspicious logins",
                        purged->bodies_deleted, purged->events_deleted, purged->rejections_deleted,
                        purged->suspicious_logins_deleted);
                if (!purged->more(limit)) break;
            }
        }
    }

    // Reports that waited too long for the other domain batches of their message.
    asio::awaitable<void> report_sweep_loop() {
        auto self = shared_from_this();
        while (!stopping) {
            sweep_timer.expires_after(k_report_sweep_interval);
            co_await sweep_timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (stopping) break;
            auto sent = co_await pending_reports.sweep(std::chrono::system_clock::now());
            if (!sent) {
                spdlog::warn("delivery: sending waiting reports failed: {}", sent.error().message);
            } else if (*sent > 0) {
                spdlog::info("delivery: sent {} reports that waited for other batches", *sent);
            }
        }
    }

    asio::awaitable<void> drain(std::function<void()> done) {
        auto self = shared_from_this();
        const auto deadline = Clock::now() + config.shutdown_grace;
        while ((active > 0 || claiming) && Clock::now() < deadline) {
            drain_timer.expires_after(100ms);
            co_await drain_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (active > 0)
            spdlog::warn("delivery: {} batches unfinished after the grace period", active);
        // Whatever is still leased goes back to the queue for other workers at once.
        auto released = co_await claims.release(owner);
        if (released && *released > 0) spdlog::info("delivery: released {} recipients", *released);
        drained = true;
        lease_timer.cancel();
        if (done) done();
    }
};

DeliveryService::DeliveryService(asio::any_io_executor executor, pg::Pool& pool,
                                 queue::GroupCommitter& committer, dns::Resolver& resolver,
                                 Settings settings)
    : impl_(std::make_shared<Impl>(executor, pool, committer, resolver, std::move(settings))) {}

DeliveryService::~DeliveryService() {
    impl_->stopping = true;
    impl_->drained = true;
    if (impl_->listener) impl_->listener->stop();
    impl_->wake.cancel();
    impl_->lease_timer.cancel();
    impl_->purge_timer.cancel();
    impl_->sweep_timer.cancel();
    impl_->drain_timer.cancel();
}

void DeliveryService::start() {
    auto& impl = *impl_;
    std::weak_ptr<Impl> weak = impl_;
    impl.listener = std::make_unique<QueueListener>(
        impl.executor, QueueListener::Settings{impl.settings.database_url}, [weak] {
            if (auto self = weak.lock()) {
                ++self->wakeups;
                self->notify();
            }
        });
    impl.listener->start();
    spawn_supervised(impl.executor, "claim", [self = impl_] { return self->claim_loop(); });
    spawn_supervised(impl.executor, "lease", [self = impl_] { return self->lease_loop(); });
    spawn_supervised(impl.executor, "purge", [self = impl_] { return self->purge_loop(); });
    spawn_supervised(impl.executor, "report-sweep",
                     [self = impl_] { return self->report_sweep_loop(); });
    spdlog::info("delivery: started as {} (concurrency {}, {} per domain)", impl.owner,
                 impl.config.concurrency, impl.config.concurrency_per_domain);
}

void DeliveryService::set_before_claim(std::function<void()> hook) {
    impl_->before_claim = std::move(hook);
}

void DeliveryService::stop(std::function<void()> done) {
    auto& impl = *impl_;
    impl.stopping = true;
    if (impl.listener) impl.listener->stop();
    impl.wake.cancel();
    impl.purge_timer.cancel();
    impl.sweep_timer.cancel();
    spawn_logged(impl.executor, "delivery_drain", impl.drain(std::move(done)));
}

const std::string& DeliveryService::owner() const {
    return impl_->owner;
}

std::size_t DeliveryService::active_batches() const {
    return impl_->active;
}

std::size_t DeliveryService::wakeups() const {
    return impl_->wakeups;
}

}  // namespace smarthost::delivery
