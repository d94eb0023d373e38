#pragma once
// Anomaly rules (docs/abuse.md "Anomaly rules"): the signs of a compromised account or
// credential, read from rows smarthost writes anyway (accepted messages and their events,
// delivery replies, rspamd's refusals and holds, suspicious logins), and the decision
// whether one has tripped. Pure: the detector (anomaly_detector.hpp) runs the queries and
// acts.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/abuse_config.hpp"

namespace smarthost::policy {

enum class Rule {
    volume,
    remote_rejections,
    spam_blocks,
    scan_rejects,
    login_networks,
    suspicious_logins
};

std::string_view rule_name(Rule rule);
const AnomalyRule& rule_settings(const AbuseConfig& config, Rule rule);
std::vector<Rule> all_rules();

// The rule's query over the window: one row per unit that reached the threshold, as
// (account_id, credential_id, sub_user, unit, observed, total, baseline or NULL, refused
// or NULL), where unit is 'account', 'credential' or 'sub_user' and says which of
// credential_id and sub_user names it (neither for the whole account).
// Parameters: $1 window seconds, $2 threshold.
std::string_view rule_query(Rule rule);

// The volume rule's baseline of one unit (its rows come without one): $1 window seconds,
// $2 baseline seconds, $3 account, $4 credential or NULL, $5 sub-user or NULL. One row,
// the unit's usual count per window.
std::string_view volume_baseline_query();

struct Observation {
    std::int64_t account_id = 0;
    std::optional<std::int64_t> credential_id;  // set: one credential of the account
    std::optional<std::string> sub_user;        // set: one sub-user of the account
    std::int64_t observed = 0;                  // messages, rejections, networks, logins
    std::int64_t total = 0;                     // what `observed` is a part of
    std::optional<double> baseline;             // volume: the unit's usual count per window
    std::optional<std::int64_t> refused;  // scan_rejects: of observed, refused (the rest held)
};

// Whether the observation trips the rule with these settings.
bool tripped(Rule rule, const AnomalyRule& settings, const Observation& observation);

// The observations that trip, keeping for each account only its smallest units that
// tripped (sub-users, else credentials, else the account): holding the smallest unit keeps
// the account's other senders going.
std::vector<Observation> trips(Rule rule, const AnomalyRule& settings,
                               const std::vector<Observation>& observations);

// The evidence stored with the trip and its hold: what was seen, against what.
std::string evidence_json(Rule rule, const AnomalyRule& settings, const Observation& observation);

}  // namespace smarthost::policy
