// [abuse] (docs/abuse.md "Anomaly rules"): the evaluation interval and each rule's window,
// threshold, factor and action.

#include "core/config_section.hpp"

namespace smarthost {

std::string_view rule_action_name(RuleAction action) {
    switch (action) {
        case RuleAction::alert:
            return "alert";
        case RuleAction::hold:
            return "hold";
        case RuleAction::suspend:
            break;
    }
    return "suspend";
}

}  // namespace smarthost

namespace smarthost::config_file {
namespace {

void read_rule(Section& parent, const std::filesystem::path& file, std::string_view name,
               AnomalyRule& rule) {
    const auto* table = subtable(parent, name);
    if (!table) return;
    Section s(*table, "abuse.rules." + std::string(name), file);
    s.read_bool("enabled", rule.enabled);
    s.read_duration("window_seconds", rule.window, 10, 7 * 86400);
    s.read_int("threshold", rule.threshold, 1, 1000000000);
    s.read_double("factor", rule.factor, 0, 1000000);
    std::string action(rule_action_name(rule.action));
    s.read("action", action);
    if (action == "alert")
        rule.action = RuleAction::alert;
    else if (action == "hold")
        rule.action = RuleAction::hold;
    else if (action == "suspend")
        rule.action = RuleAction::suspend;
    else
        s.fail("action", "must be alert, hold or suspend");
    s.reject_unknown();
}

}  // namespace

void read_abuse(const toml::table& table, const std::filesystem::path& file, AbuseConfig& a) {
    Section s(table, "abuse", file);
    s.read_bool("enabled", a.enabled);
    s.read_duration("interval_seconds", a.interval, 1, 3600);
    s.read_duration("baseline_seconds", a.baseline, 3600, 90 * 86400);
    s.read_int("max_held_recipients", a.max_held_recipients, 0, 1000000000);
    if (const auto* rules = subtable(s, "rules")) {
        Section r(*rules, "abuse.rules", file);
        read_rule(r, file, "volume", a.volume);
        read_rule(r, file, "remote_rejections", a.remote_rejections);
        read_rule(r, file, "spam_blocks", a.spam_blocks);
        read_rule(r, file, "scan_rejects", a.scan_rejects);
        read_rule(r, file, "login_networks", a.login_networks);
        read_rule(r, file, "suspicious_logins", a.suspicious_logins);
        r.reject_unknown({"volume", "remote_rejections", "spam_blocks", "scan_rejects",
                          "login_networks", "suspicious_logins"});
    }
    s.reject_unknown({"rules"});
}

}  // namespace smarthost::config_file
