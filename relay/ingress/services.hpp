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
}
}  // namespace smarthost

namespace smarthost::ingress {

class Authenticator;
class NetworkDirectory;
class TlsContextProvider;

struct IngressServices {
    const Config& config;
    queue::GroupCommitter& committer;
    Authenticator& authenticator;
    NetworkDirectory& networks;
    policy::SubmissionPolicy& policy;
    TlsContextProvider* tls;  // null when no certificate is configured
};

}  // namespace smarthost::ingress
