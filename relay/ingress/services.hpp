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
}  // namespace policy
}  // namespace smarthost

namespace smarthost::ingress {

class Authenticator;
class BodyBudget;
class Drain;
class NetworkDirectory;
class TlsContextProvider;

struct IngressServices {
    const Config& config;
    queue::GroupCommitter& committer;
    Authenticator& authenticator;
    NetworkDirectory& networks;
    policy::SubmissionPolicy& policy;
    TlsContextProvider* tls;                   // null when no certificate is configured
    policy::Blocklists* blocklists = nullptr;  // its zones may be none; SIGHUP changes them
    policy::AuthThrottle* auth_throttle = nullptr;
    Drain* drain = nullptr;  // SIGTERM's notices; null: sessions are never told to stop
    policy::ConnectionLimiter* connections = nullptr;  // per-account connection limits
    policy::RejectionLog* rejections = nullptr;        // refusals at connect and AUTH
    BodyBudget* body_budget = nullptr;  // [smtp] max_body_bytes_in_memory; null: unbounded
};

}  // namespace smarthost::ingress
