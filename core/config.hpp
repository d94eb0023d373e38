#pragma once
// The configuration file (TOML, `--config`), every key documented in docs/configuration.md.
// Loading validates every key: an unknown, missing or ill-typed key stops start-up with a
// message naming the key and the file.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/abuse_config.hpp"
#include "core/shaping_config.hpp"

namespace smarthost {

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class TlsMode { none, starttls, implicit };

struct SmtpLimits {
    std::uint64_t max_message_bytes = 26214400;  // 25 MiB, advertised with SIZE
    std::size_t max_recipients = 100;            // RFC 5321 4.5.3.1.8 minimum
    std::size_t max_line_bytes = 1000;           // data lines, CRLF included (RFC 5322 2.1.1)
    std::size_t max_errors = 10;
    std::size_t max_auth_failures = 3;          // failed AUTH on one connection, then 421
    std::chrono::seconds command_timeout{300};  // RFC 5321 4.5.3.2.7: a whole command line
    std::chrono::seconds data_timeout{600};     // RFC 5321 4.5.3.2.6 (3 min/block, 10 min end)
    // After data_rate_grace, the data section must have averaged this rate (0: no floor).
    std::size_t data_min_bytes_per_second = 512;
    std::chrono::seconds data_rate_grace{30};
    std::chrono::seconds max_session{3600};   // a session's whole life; 0: no cap
    std::size_t max_junk_commands = 100;      // NOOP/RSET/VRFY/EXPN/HELP without a message
    std::size_t max_connections = 1000;       // per listener, in this process
    std::size_t max_connections_per_ip = 50;  // per listener and client network, this process
    // RFC 5321 section 4.5.3.1 sizes of MAIL and RCPT paths; larger values serve legacy
    // senders, smaller ones are refused (the RFC's MUST).
    std::size_t max_local_part_octets = 64;
    std::size_t max_path_octets = 256;
};

// PROXY protocol v1/v2 in front of the SMTP session (docs/smtp.md, "PROXY protocol"):
// a TCP load balancer tells the real client's address in a header before any SMTP byte.
struct ProxyProtocolConfig {
    bool enabled = false;  // proxy_protocol: every connection must start with the header
    std::vector<std::string> trusted_proxies;  // networks allowed to send it; not empty if enabled
};

struct ListenerConfig {
    std::string name;
    std::string address;  // "127.0.0.1:2587", "[::1]:2587", "0.0.0.0:587"
    std::string host;
    std::uint16_t port = 0;
    TlsMode tls = TlsMode::starttls;
    bool allow_networks = false;  // allow-listed networks may relay without AUTH
    SmtpLimits limits;
    ProxyProtocolConfig proxy;  // [smtp]'s unless the listener sets its own keys
};

// TLS towards receiving servers (docs/delivery.md): none, STARTTLS when offered without
// checking the certificate (RFC 7435), or STARTTLS required with chain and name verified.
enum class OutboundTls { none, opportunistic, verify };

// A relay that takes all mail, or the mail for some domains, instead of their MX hosts.
struct UpstreamConfig {
    std::string host;  // empty: no upstream relay
    std::uint16_t port = 587;
    std::string username;  // empty: no AUTH
    std::string password;  // SMARTHOST_UPSTREAM_PASSWORD overrides
    OutboundTls tls = OutboundTls::verify;
    // AUTH also over TLS whose certificate was not verified (tls = "opportunistic"): the
    // password is then open to whoever can intercept the connection. Never without TLS.
    bool allow_auth_without_verified_tls = false;
    std::vector<std::string> domains;  // lower-cased; empty: all mail

    bool configured() const { return !host.empty(); }
    bool applies_to(const std::string& domain) const;
};

// RFC 5321 section 4.5.3.2 minimums; connect and TLS handshake are Postfix's defaults.
struct OutboundTimeouts {
    std::chrono::seconds connect{30};
    std::chrono::seconds greeting{300};
    std::chrono::seconds command{300};  // EHLO, STARTTLS, AUTH, RSET, QUIT
    std::chrono::seconds tls_handshake{30};
    std::chrono::seconds mail{300};
    std::chrono::seconds rcpt{300};
    std::chrono::seconds data_init{120};
    std::chrono::seconds data_block{180};
    std::chrono::seconds data_end{600};
};

// The admin REST API (admin-api/). Without an [admin] section the admin role cannot run.
struct AdminConfig {
    bool enabled = false;
    std::string address;  // "127.0.0.1:8025"
    std::string host;
    std::uint16_t port = 0;
    std::size_t max_body_bytes = 1024 * 1024;
    std::chrono::seconds idle_timeout{60};
    std::chrono::seconds request_timeout{30};
    std::size_t max_connections = 128;  // open at once, for the admin and metrics listeners
    bool tls = false;                   // HTTPS with the [tls] certificate
    // The shortest prefix an allowed network may have without "force": true in the request.
    unsigned min_network_prefix_ipv4 = 16;
    unsigned min_network_prefix_ipv6 = 48;
};

// The metrics listener: /metrics, /healthz and /readyz on their own address, in every
// process whatever its roles. Without a [metrics] section there is none (the admin
// listener still serves the three routes).
struct MetricsConfig {
    bool enabled = false;
    std::string address;  // "127.0.0.1:9125"
    std::string host;
    std::uint16_t port = 0;
};

struct DeliveryConfig {
    // Outbound connections at once in this process, to one destination domain, and to
    // one MX host (by name; shared by every domain that uses it).
    std::size_t concurrency = 100;
    std::size_t concurrency_per_domain = 10;
    std::size_t concurrency_per_host = 20;
    std::map<std::string, std::size_t> domain_concurrency;  // lower-cased domain → limit
    // Lower-cased host name → limit; a key starting with '.' covers every host below it.
    std::map<std::string, std::size_t> host_concurrency;
    std::size_t batch_recipients = 500;  // most recipients per claim
    // Most body bytes one claim brings (its first message's always), and most the process
    // holds at once for every batch running; claims wait while that is reached.
    std::size_t max_claim_body_bytes = std::size_t{256} << 20;
    std::size_t max_body_bytes_in_memory = std::size_t{1} << 30;
    std::chrono::seconds lease{300};
    std::chrono::seconds poll_interval{5};  // fallback when no notification arrives
    std::chrono::seconds shutdown_grace{30};

    std::uint16_t mx_port = 25;
    std::string source_address;  // empty: the system's choice
    // The name customers include in their SPF record ("include:_spf.relay.example") to
    // authorize the relay's outbound addresses; empty: only source_address is looked for.
    std::string spf_include;
    std::vector<std::string> allow_destination_networks;  // CIDRs exempt from the SSRF guard

    std::vector<std::string> dns_forwarders;  // "addr@port"; empty: /etc/resolv.conf
    std::chrono::milliseconds dns_timeout{10000};
    // DNSSEC validation (DS or DNSKEY records, e.g. the root's); empty: none, so no DANE.
    std::filesystem::path dnssec_trust_anchor_file;
    // DANE (RFC 7672, docs/delivery.md "DANE"); only ever with a trust anchor: without
    // validation no answer is secure, and an insecure TLSA record proves nothing.
    bool dane = true;
    bool ipv4 = true;
    bool ipv6 = true;

    OutboundTls tls = OutboundTls::opportunistic;
    std::vector<std::string> verify_domains;  // lower-cased; these get OutboundTls::verify
    std::filesystem::path tls_ca_file;        // for verify; empty: the system's CAs
    // MTA-STS (RFC 8461): policy discovery and enforcement; the policy host's HTTPS port
    // (443; another only for tests) and the deadline of one policy fetch.
    bool mta_sts = true;
    std::uint16_t mta_sts_port = 443;
    std::chrono::seconds mta_sts_timeout{10};

    std::chrono::seconds first_retry{300};
    double retry_backoff_factor = 2.0;
    std::chrono::seconds max_retry{4 * 3600};
    double retry_jitter = 0.2;
    std::chrono::seconds max_queue_lifetime{5 * 24 * 3600};
    // One delay warning (NOTIFY=DELAY) after a recipient was deferred this long; 0: never.
    std::chrono::seconds delay_warning{4 * 3600};

    std::chrono::seconds body_retention{24 * 3600};
    std::chrono::seconds event_retention{30 * 24 * 3600};
    std::chrono::seconds rejection_retention{30 * 24 * 3600};         // `rejections` rows
    std::chrono::seconds suspicious_login_retention{90 * 24 * 3600};  // auth_suspicious_logins
    std::chrono::seconds purge_interval{300};

    OutboundTimeouts timeouts;
    UpstreamConfig upstream;
    ShapingConfig shaping;  // destination groups, push-back, circuit breaker

    std::size_t limit_for(const std::string& domain) const;
    std::size_t host_limit_for(const std::string& host) const;
    OutboundTls tls_for(const std::string& domain) const;
    bool dane_enabled() const { return dane && !dnssec_trust_anchor_file.empty(); }
};

// Account policy on the submission path (docs/policy.md).
enum class SuppressedRecipients { reject, bounce };

// What a listing in a DNS blocklist zone does (docs/policy.md, "DNSBL").
enum class BlocklistAction { reject, tempfail, tag };

// One [[policy.dnsbl]] (client addresses) or [[policy.domain_blocklist]] (sender domains).
struct BlocklistZone {
    std::string zone;  // lower-cased, no trailing dot
    BlocklistAction action = BlocklistAction::reject;
    // A records that mean "listed": addresses or CIDRs; empty: any 127.0.0.0/8 answer.
    std::vector<std::string> listed_answers;
    std::string lookup_url;  // "{ip}" / "{domain}" replaced by what was looked up
    std::chrono::milliseconds timeout{2000};
    // A successful AUTH from an address listed here is recorded (auth_suspicious_logins).
    bool auth_suspicious = false;
};

// Failed-AUTH throttling (docs/policy.md, "Authentication abuse"); max_failures 0: off.
struct AuthThrottleConfig {
    std::size_t max_failures = 10;             // one username from one client network
    std::size_t max_network_failures = 30;     // one client network, any usernames
    std::size_t username_alert_failures = 50;  // one username from anywhere: flagged only
    std::chrono::seconds failure_window{600};
    std::chrono::seconds lockout{900};
};

struct PolicyConfig {
    // What RCPT to a suppressed address gets: "reject" = 550 5.1.1; "bounce" = 250, then
    // stored as bounced at once and reported to the sender in a DSN.
    SuppressedRecipients suppressed_recipients = SuppressedRecipients::reject;
    // Only verified sender domains authorize; false: every listed domain does (trusted
    // single-tenant set-ups).
    bool sender_domain_verification = true;
    std::string verification_label = "_smarthost";  // TXT record at <label>.<domain>
    std::chrono::seconds verification_interval{900};
    // How long a process trusts what it loaded about an account (status, domains).
    std::chrono::milliseconds account_cache{5000};

    std::vector<BlocklistZone> dnsbl;             // client address, at connect
    std::vector<BlocklistZone> domain_blocklist;  // envelope sender domain, at MAIL
    std::vector<std::string> dnsbl_exempt_networks;
    // The delivery role looks its source_address up in the dnsbl zones this often.
    std::chrono::seconds outbound_check_interval{300};
    // Each sender domain's health (SPF, DMARC, DKIM records: docs/domain-health.md) is
    // re-checked by the delivery role when its last check is older than this.
    std::chrono::seconds domain_health_interval{21600};
};

// Default per-account rate limits ([limits]); an account's own column wins. 0: no limit.
struct LimitsConfig {
    std::uint64_t messages_per_minute = 0;
    std::uint64_t messages_per_hour = 0;
    std::uint64_t messages_per_day = 0;
    std::uint64_t recipients_per_hour = 0;
    std::uint64_t recipients_per_day = 0;
    std::uint64_t recipients_per_message = 0;  // 0: the listener's max_recipients only
    std::uint64_t max_message_bytes = 0;       // 0: the listener's max_message_bytes only
    std::uint64_t lease_block = 100;    // most units a process leases from PostgreSQL at once
    std::uint64_t max_connections = 0;  // concurrent sessions per account, all replicas
    // How often each process publishes its per-account session counts and reads the
    // others' (the bound on how stale a replica's view of the others is).
    std::chrono::milliseconds connection_count_interval{1000};
};

// [dkim] (docs/dkim.md): what the DKIM key routes and the signer need.
struct DkimSettings {
    // Base64 of 32 octets that seals the private keys in PostgreSQL; the environment
    // variable SMARTHOST_DKIM_KEK overrides it. Empty: the key routes answer 503 and
    // nothing signs; the rest of smarthost runs. Never logged.
    std::string key_encryption_key;
    // x= of a signature: t= plus this; zero writes no x= (RFC 6376 section 3.5).
    std::chrono::seconds signature_expiry{0};
    // How often each key's published record (<selector>._domainkey.<domain>) is re-checked.
    std::chrono::seconds check_interval{900};

    bool key_encryption_key_configured() const { return !key_encryption_key.empty(); }
};

// [scanning] (docs/scanning.md): outbound content scanning with rspamd, off unless
// rspamd_url is set. Read at start; a change needs a restart.
struct ScanningConfig {
    std::string rspamd_url;  // "http://127.0.0.1:11333"; empty: no message is scanned
    std::string host;        // of rspamd_url: an address, or a name resolved per scan
    std::string port;
    std::string target;  // "/checkv2" unless the URL names another path
    // Connect, send and answer together; past it the message is accepted unscanned.
    std::chrono::milliseconds timeout{2000};
    std::uint64_t max_message_bytes = 10 * 1024 * 1024;  // larger: accepted unscanned
    std::uint64_t max_answer_bytes = 256 * 1024;         // larger: a failure (fail-open)
    bool default_enabled = true;                         // for accounts whose setting is NULL
    // The actions' score thresholds for accounts that set none; unset: never that action.
    std::optional<double> add_header_score = 6.0;
    std::optional<double> hold_score;
    std::optional<double> reject_score = 15.0;

    bool enabled() const { return !rspamd_url.empty(); }
};

// [webhooks] (docs/webhooks.md): how the delivery role sends the webhook outbox.
struct WebhooksConfig {
    std::chrono::milliseconds poll_interval{1000};  // fallback when no notification arrives
    std::chrono::seconds request_timeout{10};       // connect, send and answer, per POST
    std::chrono::seconds lease{60};                 // a claimed delivery's lease
    std::size_t concurrency = 20;                   // requests in flight per process
    std::chrono::seconds first_retry{5};
    double retry_backoff_factor = 2.0;
    std::chrono::seconds max_retry{3600};
    std::size_t max_attempts = 15;            // then the delivery is failed (replayable)
    std::chrono::seconds max_age{3 * 86400};  // nor retried once the event is this old
    std::chrono::seconds delivered_retention{7 * 86400};
    std::chrono::seconds failed_retention{30 * 86400};
    // Receivers in these networks may be private addresses (the SSRF guard otherwise
    // refuses loopback, private and link-local receivers).
    std::vector<std::string> allow_destination_networks;
    std::filesystem::path tls_ca_file;  // for https receivers; empty: the system's CAs
};

struct Config {
    std::filesystem::path file;

    std::string hostname;
    // After SIGTERM, how long SMTP sessions in a transaction get to finish it.
    std::chrono::seconds shutdown_grace{30};

    std::string database_url;
    std::size_t database_pool_size = 8;

    std::filesystem::path tls_certificate;
    std::filesystem::path tls_private_key;

    bool allow_auth_without_tls = false;  // contract 3: only for tests
    std::chrono::milliseconds auth_failure_delay{1000};
    std::chrono::seconds auth_cache_ttl{300};
    std::size_t auth_hash_threads = 2;
    // Logins being verified at once in this process (look-up and argon2id); one more gets
    // 454 4.7.0 at once. Of them, at most auth_max_lookups read the database at a time,
    // so logins cannot take the pool that accepting mail needs.
    std::size_t auth_max_pending = 64;
    std::size_t auth_max_lookups = 4;
    AuthThrottleConfig auth_throttle;
    // The prefix an IPv6 client is counted by ([smtp] client_ipv6_prefix_length): failed
    // logins, lockouts and connections per address (relay/policy/client_network.hpp).
    unsigned client_ipv6_prefix_length = 64;

    std::vector<ListenerConfig> listeners;
    // [smtp] max_received_headers (Postfix's hopcount_limit): a message with more
    // Received: fields is looping, 554 5.4.6. For every listener alike: relay/policy
    // judges it with the message.
    std::size_t max_received_headers = 50;
    // [smtp] max_body_bytes_in_memory: the memory all sessions of the process may hold
    // for message data (relay/ingress/body_budget.hpp); past it DATA gets 452 4.3.1.
    std::uint64_t max_body_bytes_in_memory = std::uint64_t{1} << 30;

    std::size_t group_commit_max_messages = 64;
    std::chrono::microseconds group_commit_max_wait{2000};

    DeliveryConfig delivery;
    LimitsConfig limits;
    AdminConfig admin;
    MetricsConfig metrics;
    PolicyConfig policy;
    DkimSettings dkim;
    ScanningConfig scanning;
    WebhooksConfig webhooks;
    AbuseConfig abuse;

    std::string log_level = "info";
    std::string log_format = "text";  // "text" or "json" (core/log.hpp)

    bool tls_configured() const { return !tls_certificate.empty(); }
};

// Reads and validates the file, then applies the environment overrides
// SMARTHOST_DATABASE_URL, SMARTHOST_TLS_CERTIFICATE, SMARTHOST_TLS_PRIVATE_KEY,
// SMARTHOST_UPSTREAM_PASSWORD and SMARTHOST_DKIM_KEK.
// Relative paths in the file are relative to the file's own directory.
Config load_config(const std::filesystem::path& file);

}  // namespace smarthost
