#include "relay/policy/anomaly_rules.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

namespace smarthost::policy {
namespace {

namespace json = boost::json;

// Every query starts from a time-ordered index: accepted and delivery events by
// events_created_idx, refusals by rejections_created_idx, logins by their own table;
// messages are joined by primary key.
// GROUPING SETS count each account whole, per credential and per sub-user in one pass;
// `unit` tells them apart (a credential row of mail sent without a credential, from an
// allow-listed network, or a sub-user row of mail without a sub-user, is no unit).
#define SMARTHOST_UNIT_COLUMNS                                   \
    "m.account_id, m.credential_id, m.sub_user, "                \
    "CASE WHEN GROUPING(m.credential_id) = 0 THEN 'credential' " \
    "WHEN GROUPING(m.sub_user) = 0 THEN 'sub_user' ELSE 'account' END"
#define SMARTHOST_UNIT_SETS                                                      \
    " GROUP BY GROUPING SETS ((m.account_id), (m.account_id, m.credential_id), " \
    "(m.account_id, m.sub_user))"
#define SMARTHOST_REAL_UNITS                                          \
    " (GROUPING(m.credential_id) = 0 AND m.credential_id IS NOT NULL" \
    " OR GROUPING(m.sub_user) = 0 AND m.sub_user IS NOT NULL"         \
    " OR GROUPING(m.credential_id) = 1 AND GROUPING(m.sub_user) = 1)"

// Accepted messages per unit in the window. The unit's baseline comes apart
// (k_volume_baseline): it is a count over days, which the detector keeps for a while
// instead of counting it again every round for every busy unit.
constexpr std::string_view k_volume =
    "SELECT " SMARTHOST_UNIT_COLUMNS
    ", count(*), count(*), NULL::float8, NULL::bigint"
    " FROM events e JOIN messages m ON m.id = e.message_id"
    " WHERE e.kind = 'accepted' AND e.created_at > now() - $1::bigint * interval '1 "
    "second'" SMARTHOST_UNIT_SETS " HAVING count(*) >= $2::bigint AND" SMARTHOST_REAL_UNITS;

// One unit's count over the baseline period before the window ($1 window, $2 baseline
// seconds), scaled to one window: $3 account, $4 credential or NULL, $5 sub-user or NULL
// (neither: the whole account). Read through messages_account_received_idx.
constexpr std::string_view k_volume_baseline = R"sql(
SELECT count(*)::float8 * $1::bigint / greatest($2::bigint - $1::bigint, 1)
  FROM messages b
 WHERE b.account_id = $3
   AND ($4::bigint IS NULL OR b.credential_id = $4)
   AND ($5::text IS NULL OR b.sub_user = $5)
   AND b.received_at > now() - $2::bigint * interval '1 second'
   AND b.received_at <= now() - $1::bigint * interval '1 second')sql";

// Recipients refused as unknown (5.1.1) by remote servers, of all attempts' outcomes.
constexpr std::string_view k_remote_rejections =
    "SELECT " SMARTHOST_UNIT_COLUMNS
    ","
    " count(*) FILTER (WHERE e.reply ~ '^5[0-9][0-9][ -]5\\.1\\.1'), count(*), NULL::float8,"
    " NULL::bigint"
    " FROM events e JOIN messages m ON m.id = e.message_id"
    " WHERE e.kind IN ('delivered', 'bounced', 'deferred')"
    " AND e.created_at > now() - $1::bigint * interval '1 second'" SMARTHOST_UNIT_SETS
    " HAVING count(*) FILTER (WHERE e.reply ~ '^5[0-9][0-9][ -]5\\.1\\.1') >= $2::bigint"
    " AND" SMARTHOST_REAL_UNITS;

// Deferrals and bounces for policy reasons (x.7.x: spam, reputation, rate) — how large
// receivers say they saw abuse (Gmail 4.7.28 and 5.7.1, Microsoft 5.7.708, Yahoo TSS04).
constexpr std::string_view k_spam_blocks =
    "SELECT " SMARTHOST_UNIT_COLUMNS
    ","
    " count(*) FILTER (WHERE e.reply ~ '^[45][0-9][0-9][ -][45]\\.7\\.[0-9]'), count(*),"
    " NULL::float8, NULL::bigint"
    " FROM events e JOIN messages m ON m.id = e.message_id"
    " WHERE e.kind IN ('bounced', 'deferred')"
    " AND e.created_at > now() - $1::bigint * interval '1 second'" SMARTHOST_UNIT_SETS
    " HAVING count(*) FILTER (WHERE e.reply ~ '^[45][0-9][0-9][ -][45]\\.7\\.[0-9]')"
    " >= $2::bigint AND" SMARTHOST_REAL_UNITS;

// Messages rspamd refused at the final dot (rejections, keyed by unit since 0019) and
// messages it held (stored with scan_action 'hold'): spam sent by the unit, whichever of
// the two thresholds it reached. The union is `m` because the unit macros read m.*.
constexpr std::string_view k_scan_rejects =
    "WITH scanned AS ("
    " SELECT j.account_id, j.credential_id, j.sub_user, true AS refused FROM rejections j"
    " WHERE j.reason = 'content_scan' AND j.account_id IS NOT NULL"
    " AND j.created_at > now() - $1::bigint * interval '1 second'"
    " UNION ALL"
    " SELECT m.account_id, m.credential_id, m.sub_user, false"
    " FROM events e JOIN messages m ON m.id = e.message_id"
    " WHERE e.kind = 'accepted' AND m.scan_action = 'hold'"
    " AND e.created_at > now() - $1::bigint * interval '1 second')"
    " SELECT " SMARTHOST_UNIT_COLUMNS
    ", count(*), count(*), NULL::float8, count(*) FILTER (WHERE m.refused)"
    " FROM scanned m" SMARTHOST_UNIT_SETS " HAVING count(*) >= $2::bigint AND" SMARTHOST_REAL_UNITS;

#undef SMARTHOST_UNIT_COLUMNS
#undef SMARTHOST_UNIT_SETS
#undef SMARTHOST_REAL_UNITS

// Distinct client networks (IPv4 /24, IPv6 /48) that sent mail with one credential: a
// password shared on a botnet logs in from everywhere. Counted from accepted messages, so
// a login that sends nothing counts for nothing.
constexpr std::string_view k_login_networks = R"sql(
SELECT m.account_id, m.credential_id, NULL::text, 'credential',
       count(DISTINCT network(set_masklen(m.client_ip,
                                          CASE WHEN family(m.client_ip) = 4 THEN 24 ELSE 48 END))),
       count(*), NULL::float8, NULL::bigint
  FROM events e JOIN messages m ON m.id = e.message_id
 WHERE e.kind = 'accepted' AND e.created_at > now() - $1::bigint * interval '1 second'
   AND m.credential_id IS NOT NULL
 GROUP BY m.account_id, m.credential_id
HAVING count(DISTINCT network(set_masklen(m.client_ip,
                                          CASE WHEN family(m.client_ip) = 4 THEN 24 ELSE 48 END)))
       >= $2::bigint)sql";

// Successful logins from networks listed in an auth_suspicious DNSBL zone.
constexpr std::string_view k_suspicious_logins = R"sql(
SELECT s.account_id, s.credential_id, NULL::text, 'credential', count(*), count(*), NULL::float8,
       NULL::bigint
  FROM auth_suspicious_logins s
 WHERE s.reason = 'dnsbl' AND s.credential_id IS NOT NULL
   AND s.logged_in_at > now() - $1::bigint * interval '1 second'
 GROUP BY s.account_id, s.credential_id
HAVING count(*) >= $2::bigint)sql";

}  // namespace

std::string_view rule_name(Rule rule) {
    switch (rule) {
        case Rule::volume:
            return "volume";
        case Rule::remote_rejections:
            return "remote_rejections";
        case Rule::spam_blocks:
            return "spam_blocks";
        case Rule::scan_rejects:
            return "scan_rejects";
        case Rule::login_networks:
            return "login_networks";
        case Rule::suspicious_logins:
            break;
    }
    return "suspicious_logins";
}

const AnomalyRule& rule_settings(const AbuseConfig& config, Rule rule) {
    switch (rule) {
        case Rule::volume:
            return config.volume;
        case Rule::remote_rejections:
            return config.remote_rejections;
        case Rule::spam_blocks:
            return config.spam_blocks;
        case Rule::scan_rejects:
            return config.scan_rejects;
        case Rule::login_networks:
            return config.login_networks;
        case Rule::suspicious_logins:
            break;
    }
    return config.suspicious_logins;
}

std::vector<Rule> all_rules() {
    return {Rule::volume,       Rule::remote_rejections, Rule::spam_blocks,
            Rule::scan_rejects, Rule::login_networks,    Rule::suspicious_logins};
}

std::string_view volume_baseline_query() {
    return k_volume_baseline;
}

std::string_view rule_query(Rule rule) {
    switch (rule) {
        case Rule::volume:
            return k_volume;
        case Rule::remote_rejections:
            return k_remote_rejections;
        case Rule::spam_blocks:
            return k_spam_blocks;
        case Rule::scan_rejects:
            return k_scan_rejects;
        case Rule::login_networks:
            return k_login_networks;
        case Rule::suspicious_logins:
            break;
    }
    return k_suspicious_logins;
}

bool tripped(Rule rule, const AnomalyRule& settings, const Observation& observation) {
    if (!settings.enabled) return false;
    if (observation.observed < static_cast<std::int64_t>(settings.threshold)) return false;
    switch (rule) {
        case Rule::volume:
            // Far above the unit's own usual rate; a unit with no history trips on the
            // threshold alone.
            return static_cast<double>(observation.observed) >
                   settings.factor * observation.baseline.value_or(0);
        case Rule::remote_rejections:
            return observation.total > 0 &&
                   static_cast<double>(observation.observed) >=
                       settings.factor * static_cast<double>(observation.total);
        default:
            return true;
    }
}

std::vector<Observation> trips(Rule rule, const AnomalyRule& settings,
                               const std::vector<Observation>& observations) {
    // The smallest unit that tripped, per account: sub-user, then credential, then the
    // account (a sub-user's mail usually all comes over one credential, which would trip
    // with it).
    std::map<std::int64_t, int> smallest;  // account → 0 sub-user, 1 credential, 2 account
    const auto size_of = [](const Observation& o) {
        return o.sub_user ? 0 : o.credential_id ? 1 : 2;
    };
    for (const auto& observation : observations)
        if (tripped(rule, settings, observation)) {
            auto [it, added] = smallest.emplace(observation.account_id, size_of(observation));
            if (!added) it->second = std::min(it->second, size_of(observation));
        }
    std::vector<Observation> result;
    for (const auto& observation : observations)
        if (tripped(rule, settings, observation) &&
            size_of(observation) == smallest.at(observation.account_id))
            result.push_back(observation);
    return result;
}

std::string evidence_json(Rule rule, const AnomalyRule& settings, const Observation& observation) {
    json::object evidence;
    evidence["rule"] = rule_name(rule);
    evidence["window_seconds"] = settings.window.count();
    evidence["observed"] = observation.observed;
    evidence["threshold"] = settings.threshold;
    switch (rule) {
        case Rule::volume:
            evidence["baseline_per_window"] = observation.baseline.value_or(0);
            evidence["factor"] = settings.factor;
            break;
        case Rule::remote_rejections:
        case Rule::spam_blocks:
            evidence["attempts"] = observation.total;
            if (rule == Rule::remote_rejections) evidence["share"] = settings.factor;
            break;
        case Rule::scan_rejects:
            evidence["rejected"] = observation.refused.value_or(0);
            evidence["held"] = observation.observed - observation.refused.value_or(0);
            break;
        case Rule::login_networks:
            evidence["messages"] = observation.total;
            break;
        case Rule::suspicious_logins:
            break;
    }
    return json::serialize(evidence);
}

}  // namespace smarthost::policy
