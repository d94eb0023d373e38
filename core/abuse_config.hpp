#pragma once
// [abuse] (docs/abuse.md "Anomaly rules"): the rules that watch every account and
// credential for the signs of a compromise, and what each does when it trips.

#include <chrono>
#include <cstdint>
#include <string_view>

namespace smarthost {

enum class RuleAction {
    alert,    // a trip row and a metric: the operator decides
    hold,     // the unit's mail waits (a hold; the customer can still submit)
    suspend,  // the account is suspended, or the credential disabled, and its mail held
};

std::string_view rule_action_name(RuleAction action);

struct AnomalyRule {
    bool enabled = true;
    std::chrono::seconds window{600};
    // The least observed count that can trip the rule (messages, rejections, networks).
    std::uint64_t threshold = 0;
    // volume: the multiple of the unit's own trailing rate the window must exceed;
    // remote_rejections: the share of the window's attempts that must be 5.1.1.
    double factor = 0;
    RuleAction action = RuleAction::alert;
};

struct AbuseConfig {
    bool enabled = true;
    std::chrono::seconds interval{15};  // how often the rules are evaluated
    // The trailing period the volume rule takes each unit's usual rate from.
    std::chrono::seconds baseline{7 * 86400};
    // A unit under an active hold may keep submitting (the spammer learns nothing), but
    // once this many of its recipients wait under the hold, its new messages are deferred
    // (452 4.3.1): a held spam run cannot fill the database. 0: no bound.
    std::uint64_t max_held_recipients = 100000;
    AnomalyRule volume{true, std::chrono::seconds(600), 500, 10.0, RuleAction::alert};
    AnomalyRule remote_rejections{true, std::chrono::seconds(600), 50, 0.3, RuleAction::hold};
    AnomalyRule spam_blocks{true, std::chrono::seconds(600), 20, 0, RuleAction::alert};
    // Hold, not suspend: rspamd already stopped each of these messages; the hold parks the
    // unit's other mail, which scored under the thresholds, until someone looks, and a false
    // positive (a newsletter rspamd dislikes) is undone by a release with nothing lost.
    AnomalyRule scan_rejects{true, std::chrono::seconds(600), 10, 0, RuleAction::hold};
    AnomalyRule login_networks{true, std::chrono::seconds(3600), 10, 0, RuleAction::hold};
    AnomalyRule suspicious_logins{true, std::chrono::seconds(3600), 1, 0, RuleAction::alert};
};

}  // namespace smarthost
