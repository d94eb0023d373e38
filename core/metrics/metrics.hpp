#pragma once
// The process's Prometheus metrics (docs/metrics.md lists every family). One registry
// per process, built with prometheus-cpp's core library and serialized with its text
// serializer; the HTTP side is ours (admin-api/health_routes.cpp).
//
// The facade holds a reference to every family, so an instrumentation point is one line:
//     metrics::global().messages_accepted.Add({{"account", name}}).Increment();
// Counters and gauges are atomic and Family::Add locks, so any thread may record.
//
// Labels come from bounded, operator-controlled sets only: listener names, account names,
// states, reasons, DNS types and zones. Never a recipient, sender, client IP or message.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace smarthost::metrics {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

class Metrics {
  public:
    Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // The text exposition format (version 0.0.4) of every family.
    std::string serialize() const;
    static constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

    struct FamilyInfo {
        std::string name;
        std::string type;  // counter, gauge, histogram
    };
    // Every family, including those with no series yet (the text format omits them).
    const std::vector<FamilyInfo>& families() const { return families_; }

  private:
    // First: the families below are built into these.
    std::shared_ptr<prometheus::Registry> registry_;
    std::vector<FamilyInfo> families_;

  public:
    // SMTP ingress.
    Family<Counter>& smtp_connections;           // {listener}
    Family<Counter>& smtp_connections_refused;   // {listener}: over a connection limit
    Family<Counter>& proxy_protocol_rejected;    // {listener, reason}: closed before greeting
    Family<Gauge>& smtp_sessions;                // {listener}: open now
    Family<Counter>& smtp_auth;                  // {listener, result}
    Family<Counter>& auth_lockouts;              // {kind}: network, username_network, username
    Family<Counter>& smtp_sessions_cut;          // {listener, reason}: 421 4.4.2 time/junk caps
    Gauge& smtp_body_bytes;                      // message data held by sessions now
    Family<Counter>& messages_accepted;          // {account}
    Family<Counter>& recipients_accepted;        // {account}
    Family<Counter>& messages_rejected;          // {reason}
    Family<Counter>& account_messages_rejected;  // {account, reason}
    Family<Counter>& rate_limit_hits;            // {account, limit}
    // Credentials are created by operators, so a label of bounded cardinality; sub-users
    // are named by customers and are never a label.
    Family<Counter>& credential_messages_accepted;    // {account, credential}
    Family<Counter>& credential_recipients_accepted;  // {account, credential}
    Family<Counter>& credential_rate_limit_hits;      // {account, credential, limit}
    Family<Counter>& sub_user_rate_limit_hits;        // {account, limit}
    Family<Counter>& connection_limit_hits;           // {account}: 421 at connect or AUTH
    Family<Counter>& dkim_signatures;                 // {algorithm}: DKIM-Signature fields added
    Family<Counter>& dkim_unsigned_messages;  // {reason}: accepted without a signature of ours
    Counter& dkim_signing_failures;           // refused 451: to be signed, and could not be
    Family<Counter>& scan_results;            // {action}: rspamd scans by the action taken
    Family<Counter>& scan_failures;  // {reason}: scans without an answer (accepted unscanned)
    Family<Counter>& scans_skipped;  // {reason}: messages of scanned accounts not scanned
    Histogram& scan_duration;        // one /checkv2 exchange, seconds

    // Delivery.
    Family<Counter>& recipients_delivered;  // {account}
    Family<Counter>& recipients_bounced;    // {account}
    Counter& recipients_deferred;
    Counter& recipients_expired;
    Family<Counter>& delivery_failures;       // {category}: failed attempts (failure_category.hpp)
    Histogram& delivery_duration;             // one attempt at one domain's mail, seconds
    Histogram& delivery_latency;              // received_at → delivered, seconds
    Family<Counter>& purged_rows;             // {table}: deleted past their retention
    Gauge& delivery_body_bytes;               // message bodies held by running batches
    Family<Counter>& mta_sts_policy_fetches;  // {result}: fetched, failed
    Family<Counter>& mta_sts_enforced;  // {result}: verified, skipped, testing_mismatch (per MX)
    // Destination groups (docs/delivery.md "Traffic shaping per destination"); groups come
    // from the configuration only.
    Family<Counter>& destination_backoffs;  // {group}: push-backs that began a backoff
    Family<Gauge>& destination_throttle;    // {group}: 1 unthrottled, down to min_throttle
    Family<Counter>& destination_deferred;  // {group, reason}: held back, not attempted

    // The queue in PostgreSQL (all replicas), refreshed when scraped.
    Family<Gauge>& queue_recipients;  // {state}
    Gauge& queue_oldest_age;          // seconds
    Family<Gauge>& holds_active;      // {scope}: account, credential, sub_user (abuse.md)

    // Anomaly rules (relay/policy/anomaly_detector.hpp).
    Family<Counter>& abuse_rule_trips;  // {rule, action}

    // Webhooks (docs/webhooks.md).
    Family<Counter>& webhook_deliveries;  // {result}: delivered, retried, failed
    // The outbox in PostgreSQL (all replicas), refreshed when scraped.
    Gauge& webhook_pending;             // deliveries pending
    Gauge& webhook_oldest_pending_age;  // seconds since the oldest pending event was written
    Gauge& webhook_endpoints_failing;   // enabled endpoints whose last attempt failed

    // DNS and reputation.
    Family<Counter>& dns_lookups;              // {type, result}
    Family<Counter>& dnsbl_lookups;            // {zone, result}
    Family<Counter>& dane_checks;              // {result}: DANE outcomes per MX host
    Family<Gauge>& outbound_address_listings;  // {address, zone}
    // Sender domains whose last health check found a problem, by code (whole database).
    Family<Gauge>& sender_domain_health_problems;  // {code}

    // Database.
    Family<Gauge>& db_pool_connections;  // {state}: in_use, idle
    Gauge& db_pool_waiters;
    Histogram& group_commit_batch_messages;

    // Admin and metrics listeners.
    Counter& admin_connections_refused;  // over [admin] max_connections

    // The process itself.
    Family<Counter>& task_failures;  // {task}: a coroutine ended by an exception
};

// The process's metrics, created on first use.
Metrics& global();

// Observes the seconds from its construction to its destruction into a histogram.
class Stopwatch {
  public:
    explicit Stopwatch(Histogram& histogram)
        : histogram_(histogram), started_(std::chrono::steady_clock::now()) {}
    ~Stopwatch() {
        histogram_.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    }
    Stopwatch(const Stopwatch&) = delete;
    Stopwatch& operator=(const Stopwatch&) = delete;

  private:
    Histogram& histogram_;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace smarthost::metrics
