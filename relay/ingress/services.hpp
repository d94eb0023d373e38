#pragma once
// What every SMTP session of a process shares.

namespace smarthost {
struct Config;
struct ListenerConfig;
namespace queue {
class GroupCommitter;
}
namespace policy {
class SubmissionPolicy;
class Blocklists;
class AuthThrottle;
class ConnectionLimiter;
class RejectionLog;
class DkimSigner;
class ContentScanner;
}  // namespace policy
}  // namespace smarthost

namespace smarthost::ingress {

class Authenticator;
class BodyBudget;
class Drain;
class NetworkDirectory;
class TlsContextProvider;

// Never null: a feature that is off is a service that says so (no DNSBL zones, no
// throttle limits, an unbounded budget), not a missing one. Only TLS may be absent.
struct IngressServices {
    const Config& config;
    queue::GroupCommitter& committer;
    Authenticator& authenticator;
    NetworkDirectory& networks;
    policy::SubmissionPolicy& policy;
    policy::Blocklists& blocklists;  // its zones may be none; SIGHUP changes them
    policy::AuthThrottle& auth_throttle;
    Drain& drain;                            // SIGTERM's notices
    policy::ConnectionLimiter& connections;  // per-account connection limits
    policy::RejectionLog& rejections;        // refusals at connect, AUTH and MAIL
    BodyBudget& body_budget;                 // [smtp] max_body_bytes_in_memory
    policy::DkimSigner& dkim;                // signing at acceptance (docs/dkim.md)
    policy::ContentScanner& scanner;         // rspamd at the final dot (docs/scanning.md)
    TlsContextProvider* tls = nullptr;       // null when no certificate is configured
};

}  // namespace smarthost::ingress
