// `smarthost serve`: runs the SMTP and delivery roles on one I/O thread; argon2id runs on
// its own pool.

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <random>

#include "admin-api/server.hpp"
#include "app/commands.hpp"
#include "app/reload.hpp"
#include "core/config.hpp"
#include "core/metrics/readiness.hpp"
#include "core/pg/migrations.hpp"
#include "core/pg/pool.hpp"
#include "relay/delivery/scheduler.hpp"
#include "relay/dkim/key_check.hpp"
#include "relay/dkim/key_vault.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/events/webhook_sender.hpp"
#include "relay/ingress/authenticator.hpp"
#include "relay/ingress/body_budget.hpp"
#include "relay/ingress/drain.hpp"
#include "relay/ingress/listener.hpp"
#include "relay/ingress/network_directory.hpp"
#include "relay/ingress/tls_context.hpp"
#include "relay/policy/anomaly_detector.hpp"
#include "relay/policy/auth_throttle.hpp"
#include "relay/policy/connection_limiter.hpp"
#include "relay/policy/content_scanner.hpp"
#include "relay/policy/dkim_signing.hpp"
#include "relay/policy/dnsbl.hpp"
#include "relay/policy/domain_health_check.hpp"
#include "relay/policy/domain_verification.hpp"
#include "relay/policy/outbound_reputation.hpp"
#include "relay/policy/rejection_log.hpp"
#include "relay/policy/submission_policy.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/queue/queue_jobs.hpp"

namespace smarthost {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// After the grace period, sessions told 421 get this long to say it and committing
// messages to be committed and answered; then the process exits whatever is left.
constexpr std::chrono::seconds k_final_close{10};

// The roles to run: those named, or by default every role the configuration allows.
std::optional<std::vector<std::string>> resolve_roles(const Config& config,
                                                      std::vector<std::string> roles) {
    if (roles.empty()) {
        roles = {"smtp", "delivery"};
        if (config.admin.enabled) roles.emplace_back("admin");
    }
    for (const auto& role : roles) {
        if (role == "smtp" || role == "delivery") continue;
        if (role == "admin") {
            if (config.admin.enabled) continue;
            std::cerr << "smarthost: " << config.file.string()
                      << ": admin.address: the admin role needs an [admin] section\n";
            return std::nullopt;
        }
        std::cerr << "smarthost: unknown role \"" << role
                  << "\": the roles are smtp, delivery and admin\n";
        return std::nullopt;
    }
    return roles;
}

bool has_role(const std::vector<std::string>& roles, std::string_view role) {
    return std::find(roles.begin(), roles.end(), role) != roles.end();
}

// The admin API's health refresh: false for no such domain.
asio::awaitable<Result<bool>> refresh_health_now(policy::DomainHealthChecker& checker,
                                                 std::int64_t domain_id) {
    auto report = co_await checker.check(domain_id);
    if (!report) co_return report.error();
    co_return report->has_value();
}

policy::DomainHealthChecker::Settings domain_health_settings(const Config& config) {
    policy::DomainHealthChecker::Settings settings;
    std::vector<std::string> addresses;
    if (!config.delivery.source_address.empty())
        addresses.push_back(config.delivery.source_address);
    if (auto relay = policy::relay_identity(addresses, config.delivery.spf_include)) {
        settings.relay = std::move(*relay);
    } else {
        spdlog::warn("domain health: [delivery] source_address {} is not an IP address",
                     config.delivery.source_address);
    }
    settings.interval = config.policy.domain_health_interval;
    return settings;
}

// The admin API's verify-now: whether the DNS answered, nullopt for no such domain.
asio::awaitable<Result<std::optional<bool>>> verify_now(policy::DomainVerifier& verifier,
                                                        std::int64_t domain_id) {
    auto checked = co_await verifier.verify(domain_id);
    if (!checked) co_return checked.error();
    if (!*checked) co_return std::optional<bool>();
    co_return std::optional<bool>((*checked)->conclusive);
}

std::unique_ptr<delivery::DeliveryService> make_delivery(asio::io_context& io, pg::Pool& pool,
                                                         queue::GroupCommitter& committer,
                                                         dns::Resolver& resolver,
                                                         const Config& config) {
    return std::make_unique<delivery::DeliveryService>(
        io.get_executor(), pool, committer, resolver,
        delivery::DeliveryService::Settings{config.hostname, config.database_url, config.delivery});
}

// The webhook leases' owner: this process, distinct from every other replica's (which
// may share the configured hostname, and pid 1 in containers).
std::string webhook_owner(const Config& config) {
    std::random_device device;
    return fmt::format("{}:{}:{:08x}:webhooks", config.hostname, ::getpid(), device());
}

void check_schema(const Config& config) {
    const auto version = pg::current_version(config.database_url);
    const int latest = pg::bundled_migrations().back().version;
    if (!version) {
        // The relay starts anyway and answers 451/421 until PostgreSQL is back (contract 1).
        spdlog::warn("database not reachable at start-up: {}", version.error().message);
    } else if (*version < latest) {
        throw std::runtime_error("the database schema is at version " + std::to_string(*version) +
                                 ", this binary needs " + std::to_string(latest) +
                                 ": run `smarthost migrate` first");
    }
}

}  // namespace

int serve(const Config& config, const std::vector<std::string>& requested_roles, bool check_only) {
    const auto resolved = resolve_roles(config, requested_roles);
    if (!resolved) return 2;
    // Message bodies are the largest blocks. glibc raises its mmap threshold to the size of
    // each large block freed, after which bodies come from the heap, where freed ones stay
    // resident and fragment it: the smtp role grew ~45% past its body bound (bench/RESULTS.md
    // "Body memory"). A fixed threshold hands every block of 1 MiB or more back when freed;
    // 256 KiB also returned the smaller ones but made 512 KiB messages ~20% slower to take.
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    const auto& roles = *resolved;
    const bool smtp_role = has_role(roles, "smtp");
    const bool delivery_role = has_role(roles, "delivery");
    const bool admin_role = has_role(roles, "admin");
    std::unique_ptr<ingress::TlsContextProvider> tls;
    if (config.tls_configured())
        tls = std::make_unique<ingress::TlsContextProvider>(config.tls_certificate,
                                                            config.tls_private_key);
    if (smtp_role && config.listeners.empty()) {
        std::cerr << "smarthost: " << config.file.string()
                  << ": smtp.listener: the smtp role needs at least one listener\n";
        return 2;
    }
    if (check_only) {
        std::cout << config.file.string() << ": configuration OK (" << config.listeners.size()
                  << " listeners)\n";
        return 0;
    }
    check_schema(config);

    // Before the I/O context: sessions it still holds at exit unsubscribe from it.
    ingress::Drain drain;
    asio::io_context io(1);
    asio::thread_pool hashers(config.auth_hash_threads);
    pg::Pool pool(io.get_executor(), {config.database_url, config.database_pool_size, 5});
    queue::GroupCommitter committer(
        pool, {config.group_commit_max_messages, 64 * 1024 * 1024, config.group_commit_max_wait});
    ingress::Authenticator authenticator(
        pool, hashers,
        ingress::Authenticator::Settings{config.auth_cache_ttl, config.auth_max_pending,
                                         config.auth_max_lookups, config.policy.account_cache});
    ingress::NetworkDirectory networks(pool);
    policy::SubmissionPolicy submission_policy(pool, submission_policy_settings(config));

    // The delivery role resolves MX hosts, the admin role checks sender domains now and
    // the SMTP role asks DNSBL zones: one resolver (one libunbound cache), [delivery] DNS.
    // The SMTP role has it even without zones, which SIGHUP may add: creating it only
    // sets up a libunbound context; its thread starts with the first query.
    std::unique_ptr<dns::Resolver> resolver;
    if (delivery_role || admin_role || smtp_role) {
        const auto& d = config.delivery;
        dns::Resolver::Settings settings;
        settings.forwarders = d.dns_forwarders;
        settings.timeout = d.dns_timeout;
        settings.ipv4 = d.ipv4;
        settings.ipv6 = d.ipv6;
        settings.trust_anchor_file = d.dnssec_trust_anchor_file.string();
        resolver = std::make_unique<dns::Resolver>(io.get_executor(), std::move(settings));
    }
    std::unique_ptr<policy::Blocklists> blocklists;
    if (smtp_role || delivery_role)
        blocklists = std::make_unique<policy::Blocklists>(*resolver, config.policy);
    const auto& throttle = config.auth_throttle;
    policy::AuthThrottle auth_throttle(
        pool, {throttle.max_failures, throttle.max_network_failures,
               throttle.username_alert_failures, throttle.failure_window, throttle.lockout});
    policy::RejectionLog rejections(io.get_executor(), pool);
    ingress::BodyBudget body_budget(config.max_body_bytes_in_memory);
    // Per-account connection counts are published by every SMTP process, limits or not:
    // an account's limit may be set at any time, and the others need this one's counts.
    std::unique_ptr<policy::ConnectionLimiter> connection_limiter;
    if (smtp_role) {
        connection_limiter = std::make_unique<policy::ConnectionLimiter>(
            io.get_executor(), pool, rejections,
            policy::ConnectionLimiter::Settings{config.limits.connection_count_interval});
        connection_limiter->start();
    }
    // DKIM signing at acceptance runs on its own workers: an RSA signature costs about a
    // quarter of a millisecond, which the I/O thread should not spend (docs/dkim.md). Two,
    // so that sessions finishing together do not queue behind one (bench/RESULTS.md).
    asio::thread_pool dkim_workers(2);
    std::optional<dkim::KeyVault> dkim_vault;
    if (config.dkim.key_encryption_key_configured()) {
        auto vault = dkim::KeyVault::from_base64(config.dkim.key_encryption_key);
        if (!vault) throw std::runtime_error("[dkim] key_encryption_key: " + vault.error().message);
        dkim_vault = std::move(*vault);
    }
    policy::DkimSigner dkim_signer(
        dkim_vault,
        policy::DkimSigner::Settings{config.dkim.signature_expiry.count() > 0
                                         ? std::optional(config.dkim.signature_expiry)
                                         : std::nullopt},
        dkim_workers);
    policy::ContentScanner scanner(config.scanning);
    std::optional<ingress::IngressServices> services;
    if (smtp_role)
        services.emplace(ingress::IngressServices{
            config, committer, authenticator, networks, submission_policy, *blocklists,
            auth_throttle,  // also records suspicious logins when its limits are off
            drain, *connection_limiter, rejections, body_budget, dkim_signer, scanner, tls.get()});

    std::unique_ptr<delivery::DeliveryService> deliveries;
    if (delivery_role) {
        deliveries = make_delivery(io, pool, committer, *resolver, config);
        deliveries->start();
    }
    // The webhook outbox is drained by the delivery role too, in every replica (leases).
    std::unique_ptr<events::WebhookSender> webhooks;
    if (delivery_role) {
        webhooks = std::make_unique<events::WebhookSender>(
            io.get_executor(), pool, *resolver,
            events::WebhookSender::Settings{webhook_owner(config), config.database_url,
                                            config.webhooks, config.delivery.purge_interval});
        webhooks->start();
    }
    // Sender domains are (re-)verified by the delivery role: it has the resolver, and
    // every deployment runs it somewhere. Replicas share the work (SKIP LOCKED).
    std::unique_ptr<policy::DomainVerifier> domain_verifier;
    if (delivery_role && config.policy.sender_domain_verification) {
        domain_verifier = std::make_unique<policy::DomainVerifier>(
            io.get_executor(), pool, *resolver,
            policy::DomainVerifier::Settings{config.policy.verification_label,
                                             config.policy.verification_interval});
        domain_verifier->start();
    }

    // Published DKIM key records and each sender domain's SPF, DMARC and DKIM records are
    // re-checked by the delivery role too, shared likewise. Like ownership, only when the
    // relay is to read its customers' DNS (`./dev run`'s playground has none to read).
    const bool reads_customer_dns = delivery_role && config.policy.sender_domain_verification;
    std::unique_ptr<dkim::KeyRecordChecker> dkim_key_checker;
    if (reads_customer_dns) {
        dkim_key_checker = std::make_unique<dkim::KeyRecordChecker>(
            io.get_executor(), pool, *resolver,
            dkim::KeyRecordChecker::Settings{config.dkim.check_interval});
        dkim_key_checker->start();
    }

    std::unique_ptr<policy::DomainHealthChecker> domain_health;
    if (reads_customer_dns) {
        domain_health = std::make_unique<policy::DomainHealthChecker>(
            io.get_executor(), pool, *resolver, domain_health_settings(config));
        domain_health->start();
    }

    // Anomaly rules (docs/abuse.md) run in the delivery role of every replica: each trip is
    // decided under an advisory lock, so replicas agree.
    std::unique_ptr<policy::AnomalyDetector> anomaly_detector;
    if (delivery_role && config.abuse.enabled) {
        anomaly_detector =
            std::make_unique<policy::AnomalyDetector>(io.get_executor(), pool, config.abuse);
        anomaly_detector->start();
    }

    // Outbound reputation: the address deliveries leave from, in the DNSBL zones. Started
    // without zones too (it then checks nothing), so that zones SIGHUP adds are checked.
    std::unique_ptr<policy::OutboundReputation> reputation;
    if (delivery_role && config.delivery.source_address.empty() && blocklists->checks_clients()) {
        spdlog::info(
            "outbound reputation not checked: [delivery] source_address is not set, so the "
            "address deliveries leave from is the system's choice");
    } else if (delivery_role && !config.delivery.source_address.empty()) {
        reputation = std::make_unique<policy::OutboundReputation>(
            io.get_executor(), pool, *blocklists, config.delivery.source_address,
            config.policy.outbound_check_interval);
        reputation->start();
    }

    // Bulk queue actions and holds' jobs (relay/queue/queue_jobs.hpp) are worked on by
    // every delivery and admin process; the admin API also starts each new one itself.
    std::unique_ptr<queue::QueueJobs> queue_jobs;
    if (delivery_role || admin_role) {
        queue::QueueJobs::Settings job_settings;
        job_settings.dsn.reporting_host = config.hostname;  // as delivery's own bounces
        queue_jobs = std::make_unique<queue::QueueJobs>(
            io.get_executor(), pool, fmt::format("{}:{}:jobs", config.hostname, ::getpid()),
            job_settings);
        queue_jobs->start();
    }

    std::unique_ptr<policy::DomainVerifier> admin_verifier;     // verify-now; never started
    std::unique_ptr<dkim::KeyRecordChecker> admin_key_checker;  // verify-now; never started
    std::unique_ptr<policy::DomainHealthChecker> admin_health;  // refresh; never started
    std::unique_ptr<admin::AdminServer> admin_server;
    if (admin_role) {
        const auto& a = config.admin;
        admin::AdminServer::Settings admin_settings;
        admin_settings.address = a.host;
        admin_settings.port = a.port;
        admin_settings.max_body_bytes = a.max_body_bytes;
        admin_settings.idle_timeout = a.idle_timeout;
        admin_settings.request_timeout = a.request_timeout;
        admin_settings.max_connections = a.max_connections;
        admin_settings.hash_threads = config.auth_hash_threads;
        admin_settings.verification_label = config.policy.verification_label;
        admin_settings.shaping = config.delivery.shaping;
        admin_settings.network_breadth = {a.min_network_prefix_ipv4, a.min_network_prefix_ipv6};
        if (a.tls && tls) admin_settings.tls_context = [&tls] { return tls->current(); };
        admin_verifier = std::make_unique<policy::DomainVerifier>(
            io.get_executor(), pool, *resolver,
            policy::DomainVerifier::Settings{config.policy.verification_label,
                                             config.policy.verification_interval});
        admin_settings.verify_domain = [verifier = admin_verifier.get()](std::int64_t id) {
            return verify_now(*verifier, id);
        };
        admin_key_checker = std::make_unique<dkim::KeyRecordChecker>(
            io.get_executor(), pool, *resolver,
            dkim::KeyRecordChecker::Settings{config.dkim.check_interval});
        // Without a KEK the key routes answer 503; the rest of the API works.
        if (dkim_vault)
            admin_settings.dkim.vault = std::make_shared<const dkim::KeyVault>(*dkim_vault);
        else
            spdlog::info(
                "dkim: no key-encryption key configured ([dkim] key_encryption_key or "
                "SMARTHOST_DKIM_KEK): the DKIM key routes answer 503");
        admin_settings.dkim.verify = [checker = admin_key_checker.get()](std::int64_t id) {
            return checker->check(id);
        };
        admin_health = std::make_unique<policy::DomainHealthChecker>(
            io.get_executor(), pool, *resolver, domain_health_settings(config));
        admin_settings.refresh_domain_health = [checker = admin_health.get()](std::int64_t id) {
            return refresh_health_now(*checker, id);
        };
        admin_settings.work_on_queue_job = [jobs = queue_jobs.get()](
                                               std::int64_t id, std::chrono::milliseconds budget) {
            return jobs->work_on(id, budget);
        };
        admin_server =
            std::make_unique<admin::AdminServer>(io.get_executor(), pool, admin_settings);
        admin_server->start();
        spdlog::info("admin API on {}", a.address);
    }

    std::unique_ptr<admin::AdminServer> metrics_server;
    if (config.metrics.enabled) {
        admin::AdminServer::Settings metrics_settings;
        metrics_settings.address = config.metrics.host;
        metrics_settings.port = config.metrics.port;
        metrics_settings.hash_threads = 1;
        metrics_settings.max_connections = config.admin.max_connections;
        metrics_settings.serve_api = false;
        metrics_server =
            std::make_unique<admin::AdminServer>(io.get_executor(), pool, metrics_settings);
        metrics_server->start();
    }

    std::vector<std::unique_ptr<ingress::Listener>> listeners;
    for (const auto& listener_config : config.listeners) {
        if (!smtp_role) break;
        listeners.push_back(
            std::make_unique<ingress::Listener>(io.get_executor(), listener_config, *services));
        listeners.back()->start();
    }
    metrics::set_listeners_up(true);  // /readyz; every start() above throws on failure

    ConfigReloader::Targets reload_targets{
        tls.get(), &submission_policy, &auth_throttle, {}, blocklists.get()};
    for (const auto& l : listeners)
        reload_targets.listeners.push_back(l.get());
    ConfigReloader reloader(config, std::move(reload_targets));
    asio::signal_set reload(io, SIGHUP);
    std::function<void()> wait_reload = [&] {
        reload.async_wait([&](boost::system::error_code ec, int) {
            if (ec) return;
            reloader.reload();
            wait_reload();
        });
    };
    wait_reload();

    // SIGTERM (docs/configuration.md, "Signals"): the drain, then, once sessions, deliveries
    // and pending commits are done (or the grace is over), the I/O loop stops.
    asio::signal_set terminate(io, SIGTERM, SIGINT);
    asio::steady_timer drain_timer(io);
    using Clock = std::chrono::steady_clock;
    Clock::time_point grace_ends{};
    Clock::time_point deliveries_grace_ends{};
    bool deliveries_done = !deliveries;
    const auto open_sessions = [&] {
        std::size_t active = 0;
        for (const auto& l : listeners)
            active += l->active_sessions();
        return active;
    };
    std::function<void()> wait_drained = [&] {
        const auto now = Clock::now();
        const std::size_t active = open_sessions();
        const bool finished = active == 0 && deliveries_done && committer.idle();
        if (!finished && now >= grace_ends && drain.phase() != ingress::Drain::Phase::closing) {
            if (active) spdlog::warn("shutdown: grace period over, closing {} sessions", active);
            drain.close();
        }
        const bool out_of_time = now >= std::max(grace_ends, deliveries_grace_ends) + k_final_close;
        if (finished || out_of_time) {
            if (!finished)
                spdlog::warn("shutdown: exiting with {} sessions open, deliveries {}, commits {}",
                             active, deliveries_done ? "done" : "unfinished",
                             committer.idle() ? "done" : "pending");
            for (auto& l : listeners)
                l->stop();
            // This replica's connection counts leave the database before the process does.
            if (connection_limiter)
                connection_limiter->stop([&io] { io.stop(); });
            else
                io.stop();
            return;
        }
        drain_timer.expires_after(std::chrono::milliseconds(50));
        drain_timer.async_wait([&](boost::system::error_code ec) {
            if (!ec) wait_drained();
        });
    };
    terminate.async_wait([&](boost::system::error_code ec, int signal) {
        if (ec) return;
        const auto grace = reloader.shutdown_grace();
        spdlog::info(
            "signal {}: draining: new connections and idle sessions get 421, transactions in "
            "progress have {} s",
            signal, grace.count());
        metrics::set_listeners_up(false);  // /readyz; /healthz and /metrics stay up
        // The listeners keep accepting: a straggler gets 421 4.3.2, not a reset.
        drain.begin();
        if (admin_server) admin_server->stop();
        // Deliveries in progress get their own grace; what is left is released to others.
        if (deliveries) deliveries->stop([&] { deliveries_done = true; });
        if (webhooks) webhooks->stop();
        if (domain_verifier) domain_verifier->stop();
        if (dkim_key_checker) dkim_key_checker->stop();
        if (domain_health) domain_health->stop();
        if (reputation) reputation->stop();
        if (queue_jobs) queue_jobs->stop();
        if (anomaly_detector) anomaly_detector->stop();
        reload.cancel();
        grace_ends = Clock::now() + grace;
        deliveries_grace_ends = Clock::now() + config.delivery.shutdown_grace;
        wait_drained();
    });

    spdlog::info("smarthost serving as {} with {} listeners{}", config.hostname, listeners.size(),
                 deliveries ? " and delivery" : "");
    io.run();
    hashers.join();
    dkim_workers.join();
    spdlog::info("smarthost stopped");
    return 0;
}

int migrate(const Config& config) {
    auto report = pg::migrate(config.database_url);
    if (!report) {
        std::cerr << "smarthost migrate: " << report.error().message << '\n';
        return 1;
    }
    std::cout << "schema at version " << report->to_version << " (" << report->applied
              << " migrations applied, was " << report->from_version << ")\n";
    return 0;
}

}  // namespace smarthost
