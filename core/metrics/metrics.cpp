#include "core/metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace smarthost::metrics {
namespace {

using prometheus::Registry;

using Catalogue = std::vector<Metrics::FamilyInfo>;

Family<Counter>& counter(Registry& registry, Catalogue& catalogue, const char* name,
                         const char* help) {
    catalogue.push_back({name, "counter"});
    return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

Family<Gauge>& gauge(Registry& registry, Catalogue& catalogue, const char* name, const char* help) {
    catalogue.push_back({name, "gauge"});
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

Histogram& histogram(Registry& registry, Catalogue& catalogue, const char* name, const char* help,
                     Histogram::BucketBoundaries buckets) {
    catalogue.push_back({name, "histogram"});
    return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(
        {}, std::move(buckets));
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<Registry>()),
      smtp_connections(counter(*registry_, families_, "smarthost_smtp_connections_total",
                               "SMTP connections accepted by a listener")),
      smtp_connections_refused(
          counter(*registry_, families_, "smarthost_smtp_connections_refused_total",
                  "SMTP connections refused with 421 because a connection limit was reached")),
      proxy_protocol_rejected(
          counter(*registry_, families_, "smarthost_proxy_protocol_rejected_total",
                  "Connections to a PROXY protocol listener closed without a greeting: "
                  "untrusted proxy, malformed header or timeout")),
      smtp_sessions(
          gauge(*registry_, families_, "smarthost_smtp_sessions", "SMTP sessions open now")),
      smtp_auth(counter(*registry_, families_, "smarthost_smtp_auth_total",
                        "SMTP AUTH attempts by result (success, invalid_credentials, "
                        "temporary_failure)")),
      auth_lockouts(counter(*registry_, families_, "smarthost_auth_lockouts_total",
                            "Lockouts set after failed logins, by key: network, "
                            "username_network (refusals) and username (flagged only)")),
      smtp_sessions_cut(counter(*registry_, families_, "smarthost_smtp_sessions_cut_total",
                                "Sessions closed with 421 4.4.2 by a time or command cap "
                                "(command_timeout, data_rate, session_lifetime, junk_commands)")),
      smtp_body_bytes(gauge(*registry_, families_, "smarthost_smtp_body_bytes",
                            "Bytes of message data SMTP sessions hold now, against "
                            "[smtp] max_body_bytes_in_memory")
                          .Add({})),
      messages_accepted(counter(*registry_, families_, "smarthost_messages_accepted_total",
                                "Messages committed to the queue and answered with 250")),
      recipients_accepted(counter(*registry_, families_, "smarthost_recipients_accepted_total",
                                  "Recipients of the messages committed to the queue")),
      messages_rejected(
          counter(*registry_, families_, "smarthost_messages_rejected_total",
                  "Senders, recipients and messages refused during an SMTP transaction")),
      account_messages_rejected(
          counter(*registry_, families_, "smarthost_account_messages_rejected_total",
                  "Refusals during an SMTP transaction of an identified account")),
      rate_limit_hits(counter(*registry_, families_, "smarthost_rate_limit_hits_total",
                              "Messages or recipients refused by an account's rate limit")),
      credential_messages_accepted(
          counter(*registry_, families_, "smarthost_credential_messages_accepted_total",
                  "Messages committed to the queue, by the credential that submitted them")),
      credential_recipients_accepted(
          counter(*registry_, families_, "smarthost_credential_recipients_accepted_total",
                  "Recipients of the messages committed to the queue, by credential")),
      credential_rate_limit_hits(
          counter(*registry_, families_, "smarthost_credential_rate_limit_hits_total",
                  "Messages or recipients refused by a credential's own rate limit")),
      sub_user_rate_limit_hits(
          counter(*registry_, families_, "smarthost_sub_user_rate_limit_hits_total",
                  "Messages refused by a sub-user's rate limit or the account's max_sub_users")),
      connection_limit_hits(
          counter(*registry_, families_, "smarthost_connection_limit_hits_total",
                  "Sessions closed with 421 because their account had its concurrent "
                  "connections open already")),
      dkim_signatures(counter(*registry_, families_, "smarthost_dkim_signatures_total",
                              "DKIM-Signature fields added to accepted messages")),
      dkim_unsigned_messages(
          counter(*registry_, families_, "smarthost_dkim_unsigned_messages_total",
                  "Accepted messages left without a signature of this relay, by reason")),
      dkim_signing_failures(counter(*registry_, families_, "smarthost_dkim_signing_failures_total",
                                    "Messages refused with 451 because they were to be DKIM-signed "
                                    "and could not be")
                                .Add({})),
      scan_results(counter(*registry_, families_, "smarthost_scan_results_total",
                           "Messages scanned by rspamd, by the action their score earned "
                           "(accept, add_header, hold, reject)")),
      scan_failures(counter(*registry_, families_, "smarthost_scan_failures_total",
                            "Scans that got no usable answer from rspamd, by reason; the "
                            "message was accepted unscanned (fail-open)")),
      scans_skipped(counter(*registry_, families_, "smarthost_scans_skipped_total",
                            "Messages of scanned accounts accepted without a scan, by reason "
                            "(message_size: over [scanning] max_message_bytes)")),
      scan_duration(histogram(*registry_, families_, "smarthost_scan_duration_seconds",
                              "One rspamd /checkv2 exchange, connect to answer (failures too)",
                              {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10})),
      recipients_delivered(counter(*registry_, families_, "smarthost_recipients_delivered_total",
                                   "Recipients accepted by the receiving server")),
      recipients_bounced(counter(*registry_, families_, "smarthost_recipients_bounced_total",
                                 "Recipients failed permanently (a bounce is sent)")),
      recipients_deferred(counter(*registry_, families_, "smarthost_recipients_deferred_total",
                                  "Delivery attempts that failed temporarily (retried later)")
                              .Add({})),
      recipients_expired(counter(*registry_, families_, "smarthost_recipients_expired_total",
                                 "Recipients given up after the queue lifetime (a bounce is sent)")
                             .Add({})),
      delivery_failures(counter(*registry_, families_, "smarthost_delivery_failures_total",
                                "Failed delivery attempts per recipient (deferred, bounced or "
                                "expired), by why they failed (docs/delivery.md)")),
      delivery_duration(histogram(
          *registry_, families_, "smarthost_delivery_duration_seconds",
          "One delivery attempt for the mail of one destination domain, MX lookup to QUIT",
          {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300})),
      delivery_latency(
          histogram(*registry_, families_, "smarthost_delivery_latency_seconds",
                    "From acceptance (received_at) to delivery, per recipient",
                    {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400})),
      purged_rows(counter(*registry_, families_, "smarthost_purged_rows_total",
                          "Rows deleted past their retention by the delivery role's purge, "
                          "by table")),
      delivery_body_bytes(gauge(*registry_, families_, "smarthost_delivery_body_bytes",
                                "Bytes of message bodies held by the delivery role's running "
                                "batches (bounded by delivery.max_body_bytes_in_memory)")
                              .Add({})),
      mta_sts_policy_fetches(counter(*registry_, families_,
                                     "smarthost_mta_sts_policy_fetches_total",
                                     "MTA-STS policy fetches over HTTPS (RFC 8461), by result: "
                                     "fetched, failed")),
      mta_sts_enforced(counter(*registry_, families_, "smarthost_mta_sts_enforced_total",
                               "MX hosts an MTA-STS policy applied to, by result: verified "
                               "(enforce, listed), skipped (enforce, not listed), "
                               "testing_mismatch (testing, not listed, used anyway)")),
      destination_backoffs(counter(*registry_, families_, "smarthost_destination_backoffs_total",
                                   "Push-backs (rate limited replies) that put a destination "
                                   "group into backoff, by group")),
      destination_throttle(gauge(*registry_, families_, "smarthost_destination_throttle",
                                 "The factor scaling a destination group's rates and "
                                 "connections after push-back: 1 unthrottled")),
      destination_deferred(counter(*registry_, families_, "smarthost_destination_deferred_total",
                                   "Messages of a destination group put back in the queue "
                                   "without an attempt, by group and reason (rate, backoff, "
                                   "circuit)")),
      queue_recipients(gauge(*registry_, families_, "smarthost_queue_recipients",
                             "Recipients in the queue by state, in the whole database")),
      queue_oldest_age(gauge(*registry_, families_, "smarthost_queue_oldest_age_seconds",
                             "Age of the oldest message with a queued, deferred or in-flight "
                             "recipient; 0 when there is none")
                           .Add({})),
      holds_active(gauge(*registry_, families_, "smarthost_holds_active",
                         "Active holds (contained accounts and credentials), in the whole "
                         "database, by scope")),
      abuse_rule_trips(counter(*registry_, families_, "smarthost_abuse_rule_trips_total",
                               "Anomaly rules tripped for an account or credential, by rule and "
                               "the action taken")),
      webhook_deliveries(counter(*registry_, families_, "smarthost_webhook_deliveries_total",
                                 "Webhook delivery attempts by result: delivered (2xx), "
                                 "retried (failed, to be tried again), failed (given up)")),
      webhook_pending(gauge(*registry_, families_, "smarthost_webhook_deliveries_pending",
                            "Webhook deliveries pending, in the whole database")
                          .Add({})),
      webhook_oldest_pending_age(
          gauge(*registry_, families_, "smarthost_webhook_oldest_pending_age_seconds",
                "Age of the oldest event with a pending webhook delivery; 0 when none")
              .Add({})),
      webhook_endpoints_failing(
          gauge(*registry_, families_, "smarthost_webhook_endpoints_failing",
                "Enabled webhook endpoints whose last delivery attempt failed")
              .Add({})),
      dns_lookups(counter(*registry_, families_, "smarthost_dns_lookups_total",
                          "DNS lookups by record type and result")),
      dnsbl_lookups(counter(*registry_, families_, "smarthost_dnsbl_lookups_total",
                            "DNSBL lookups by zone and result (listed, not_listed, error)")),
      dane_checks(counter(*registry_, families_, "smarthost_dane_checks_total",
                          "DANE (RFC 7672) outcomes for MX hosts with secure TLSA records, by "
                          "result")),
      outbound_address_listings(gauge(*registry_, families_, "smarthost_outbound_address_listed",
                                      "1 while an outbound source address is listed in a DNSBL "
                                      "zone, else 0")),
      sender_domain_health_problems(
          gauge(*registry_, families_, "smarthost_sender_domain_health_problems",
                "Sender domains whose last health check found this problem (by code, "
                "docs/domain-health.md), in the whole database")),
      db_pool_connections(gauge(*registry_, families_, "smarthost_db_pool_connections",
                                "PostgreSQL pool connections by state (in_use, idle)")),
      db_pool_waiters(gauge(*registry_, families_, "smarthost_db_pool_waiters",
                            "Requests waiting for a free PostgreSQL pool connection")
                          .Add({})),
      group_commit_batch_messages(
          histogram(*registry_, families_, "smarthost_group_commit_batch_messages",
                    "Messages committed together in one group-commit transaction",
                    {1, 2, 4, 8, 16, 32, 64, 128, 256, 512})),
      admin_connections_refused(
          counter(*registry_, families_, "smarthost_admin_connections_refused_total",
                  "Admin or metrics listener connections answered 503 and closed unread "
                  "because max_connections were open")
              .Add({})),
      task_failures(counter(*registry_, families_, "smarthost_task_failures_total",
                            "Coroutines ended by an exception (a bug): logged, and restarted "
                            "when they are long-lived loops")) {
    // Series that exist from the start, so rates and alerts see a zero, not nothing.
    for (const char* state : {"in_use", "idle"})
        db_pool_connections.Add({{"state", state}});
    for (const char* state : {"queued", "deferred", "in_flight", "held"})
        queue_recipients.Add({{"state", state}});
    for (const char* result : {"delivered", "retried", "failed"})
        webhook_deliveries.Add({{"result", result}});
    for (const char* result : {"fetched", "failed"})
        mta_sts_policy_fetches.Add({{"result", result}});
    for (const char* result : {"verified", "skipped", "testing_mismatch"})
        mta_sts_enforced.Add({{"result", result}});
    for (const char* table : {"events", "rejections", "auth_suspicious_logins",
                              "webhook_deliveries", "webhook_events", "mta_sts_policies"})
        purged_rows.Add({{"table", table}});
}

std::string Metrics::serialize() const {
    return prometheus::TextSerializer().Serialize(registry_->Collect());
}

Metrics& global() {
    static Metrics metrics;
    return metrics;
}

}  // namespace smarthost::metrics
