#pragma once
// SIGHUP (docs/configuration.md, "Signals"): the TLS certificate files are read again,
// and so is the configuration file. The keys that can change at run time are applied,
// each changed key that needs a restart is named in a warning (and not applied), and a
// file that does not load is reported and changes nothing.
//
// Threading: reload() runs on the I/O thread, like everything it changes, so each
// change is a plain assignment that the next check, session or connection reads.

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/config.hpp"
#include "core/config_changes.hpp"
#include "relay/policy/submission_policy.hpp"

namespace smarthost {
namespace ingress {
class Listener;
class TlsContextProvider;
}  // namespace ingress
namespace policy {
class AuthThrottle;
class Blocklists;
struct BlocklistZones;
}  // namespace policy

// The submission policy's settings from [limits] and [policy].
policy::SubmissionPolicy::Settings submission_policy_settings(const Config& config);

class ConfigReloader {
  public:
    struct Targets {
        ingress::TlsContextProvider* tls = nullptr;
        policy::SubmissionPolicy* policy = nullptr;
        policy::AuthThrottle* auth_throttle = nullptr;
        std::vector<ingress::Listener*> listeners;
        policy::Blocklists* blocklists = nullptr;  // the smtp and delivery roles'
    };

    // `running` is the configuration the process started with.
    ConfigReloader(const Config& running, Targets targets);

    void reload();

    // [server] shutdown_grace_seconds as last loaded.
    std::chrono::seconds shutdown_grace() const { return current_->shutdown_grace; }

  private:
    // `blocklist_zones`: Blocklists::prepare() of `next`, null without blocklists.
    void apply(const Config& next, std::shared_ptr<const policy::BlocklistZones> blocklist_zones);

    Targets targets_;
    std::shared_ptr<const Config> current_;
    ConfigValues started_with_;  // what needs a restart is compared with this
    ConfigValues current_values_;
    std::uint64_t running_body_bound_;  // [smtp] max_body_bytes_in_memory, restart-only
};

}  // namespace smarthost
