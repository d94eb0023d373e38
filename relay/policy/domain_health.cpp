#include "relay/policy/domain_health.hpp"

#include <algorithm>

#include "core/ascii.hpp"
#include "relay/dkim/signature_fields.hpp"
#include "relay/policy/blanks.hpp"
#include "relay/policy/public_suffixes.hpp"

namespace smarthost::policy {
namespace {

std::string without_white_space(std::string_view text) {
    std::string out;
    for (char c : text)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out += c;
    return out;
}

std::string key_record_name(std::string_view selector, std::string_view domain) {
    return std::string(selector) + "._domainkey." + std::string(domain);
}

class Assessment {
  public:
    Assessment(const DomainHealthInput& input, const RelayIdentity& relay, const DnsFacts& facts,
               const PublicSuffixList& suffixes)
        : input_(input), relay_(relay), facts_(facts), suffixes_(suffixes) {
        health_.domain = normalized_name(input.domain);
        health_.from_domain =
            input.from_domain.empty() ? health_.domain : normalized_name(input.from_domain);
    }

    DomainHealth run() {
        dmarc();
        dkim();
        spf();
        summary();
        return std::move(health_);
    }

  private:
    void add(std::string_view code, Severity severity, std::string message,
             std::string record = {}) {
        health_.findings.push_back(
            HealthFinding{std::string(code), severity, std::move(message), std::move(record)});
    }

    void ask(DnsQuestion question) {
        auto& missing = health_.missing;
        if (std::find(missing.begin(), missing.end(), question) == missing.end())
            missing.push_back(std::move(question));
    }

    // The TXT answer for `name`, or nullptr (asked for, or noted as unavailable).
    const dns::TxtAnswer* txt(const std::string& name) {
        const auto* answer = facts_.txt(name);
        if (!answer) {
            ask({DnsQuestion::Type::txt, name});
            return nullptr;
        }
        if (!conclusive(answer->status)) {
            unavailable(name);
            return nullptr;
        }
        return answer;
    }

    void unavailable(const std::string& name) {
        if (std::find(unanswered_.begin(), unanswered_.end(), name) == unanswered_.end())
            unanswered_.push_back(name);
    }

    // RFC 7489 section 6.6.3: _dmarc.<From domain>, else _dmarc.<organizational domain>.
    void dmarc() {
        const auto& from = health_.from_domain;
        const auto own_name = dmarc_record_name(from);
        health_.dmarc_record_name = own_name;
        const auto* own = txt(own_name);
        if (!own) return;
        if (dmarc_at(own_name, *own, false)) return;
        const auto organizational = suffixes_.organizational_domain(from);
        if (organizational != from) {
            const auto parent_name = dmarc_record_name(organizational);
            const auto* parent = txt(parent_name);
            if (!parent) return;
            if (dmarc_at(parent_name, *parent, true)) return;
        }
        add(health_code::dmarc_missing, Severity::problem,
            "Publish a DMARC record: TXT at " + own_name +
                " such as \"v=DMARC1; p=none; rua=mailto:dmarc-reports@" + from +
                "\", then tighten p= to quarantine or reject once the reports look right.",
            own_name);
    }

    // Whether `name` holds something DMARC-like (a record, or a broken one).
    bool dmarc_at(const std::string& name, const dns::TxtAnswer& answer, bool organizational) {
        std::vector<std::string_view> candidates;
        for (const auto& text : answer.records)
            if (istarts_with(trim_blanks(text), "v=dmarc")) candidates.push_back(text);
        if (candidates.empty()) return false;
        health_.dmarc_record_name = name;
        if (candidates.size() > 1) {
            add(health_code::dmarc_invalid, Severity::problem,
                name +
                    " has more than one DMARC record, so receivers ignore them all: keep "
                    "exactly one.",
                name);
            return true;
        }
        health_.dmarc_record = std::string(candidates.front());
        auto parsed = parse_dmarc(candidates.front());
        if (!parsed.error.empty()) {
            add(health_code::dmarc_invalid, Severity::problem,
                "The DMARC record at " + name + " is not valid (" + parsed.error +
                    "): correct it, e.g. \"v=DMARC1; p=quarantine\".",
                name);
        }
        if (!parsed.record) return true;
        const auto& record = *parsed.record;
        health_.dkim_alignment = record.dkim_alignment;
        health_.spf_alignment = record.spf_alignment;
        // A subdomain without its own record follows the parent's sp= (section 6.3).
        const auto policy =
            organizational && record.subdomain_policy ? *record.subdomain_policy : record.policy;
        health_.dmarc_policy = policy;
        if (policy == DmarcPolicy::none) {
            add(health_code::dmarc_policy_none, Severity::info,
                "The DMARC policy at " + name +
                    " is p=none: receivers only report failures. Once the reports show all "
                    "legitimate mail passing, set p=quarantine or p=reject.",
                name);
        }
        return true;
    }

    void dkim() {
        bool any_active = false;
        bool signing_key_published = false;
        const bool signing = input_.dkim_policy != DkimPolicy::off;
        for (const auto& key : input_.keys) {
            DkimKeyHealth entry{key.selector, key.algorithm, key.active,
                                key_record_name(key.selector, health_.domain),
                                DkimRecordStatus::unavailable};
            const auto* answer = txt(entry.record_name);
            if (answer) entry.status = dkim_record_status(*answer, key.public_key);
            any_active = any_active || key.active;
            if (key.active && entry.status == DkimRecordStatus::published)
                signing_key_published = true;
            if (signing) key_findings(entry, key);
            health_.keys.push_back(std::move(entry));
        }
        if (!signing) {
            add(health_code::dkim_signing_off, Severity::problem,
                "DKIM signing is turned off for " + health_.domain +
                    ": mail is sent unsigned and fails DMARC unless SPF aligns. Ask for "
                    "signing to be turned on.");
        } else if (!any_active) {
            add(health_code::dkim_no_active_key, Severity::problem,
                health_.domain +
                    " has no active DKIM key, so its mail is not signed: create a key, "
                    "publish its DNS record and activate it.");
        }
        dkim_signs_ = signing && signing_key_published;
    }

    void key_findings(const DkimKeyHealth& entry, const DkimKeyFacts& key) {
        const auto record = key_record_text(key);
        const std::string role = key.active ? "active" : "new";
        if (entry.status == DkimRecordStatus::missing) {
            add(health_code::dkim_record_missing, Severity::problem,
                "The " + role + " DKIM key " + key.selector + " is not published: add a TXT " +
                    "record at " + entry.record_name + " with the value \"" + record + "\".",
                entry.record_name);
        } else if (entry.status == DkimRecordStatus::mismatch) {
            add(health_code::dkim_record_mismatch, Severity::problem,
                "The TXT record at " + entry.record_name + " holds a different or revoked " +
                    "key than the " + role + " DKIM key " + key.selector +
                    ": replace its value with \"" + record + "\".",
                entry.record_name);
        }
    }

    static std::string key_record_text(const DkimKeyFacts& key) {
        const std::string type = key.algorithm == "ed25519-sha256" ? "ed25519" : "rsa";
        return "v=DKIM1; k=" + type + "; p=" + key.public_key;
    }

    void spf() {
        const auto& domain = health_.domain;
        const auto* answer = txt(domain);
        if (!answer) return;
        std::vector<std::string_view> records;
        for (const auto& text : answer->records)
            if (is_spf_record(text)) records.push_back(text);
        if (records.empty()) {
            add(health_code::spf_missing, Severity::problem,
                domain + " has no SPF record: publish a TXT record at " + domain + " such as \"" +
                    suggested_spf() + "\".",
                domain);
            return;
        }
        if (records.size() > 1) {
            add(health_code::spf_multiple, Severity::problem,
                domain + " has " + std::to_string(records.size()) +
                    " SPF records, which makes SPF fail everywhere: merge them into one.",
                domain);
            return;
        }
        health_.spf_record = std::string(records.front());
        const auto parsed = parse_spf(records.front());
        if (!parsed.record) {
            add(health_code::spf_invalid, Severity::problem,
                "The SPF record of " + domain + " is not valid (" + parsed.error +
                    "): receivers treat it as an error. Correct it.",
                domain);
            return;
        }
        spf_evaluation();
    }

    // check_host() for each outbound address (or, without any, for the include name).
    void spf_evaluation() {
        const auto& domain = health_.domain;
        std::vector<SpfQuery> queries;
        for (const auto& address : relay_.outbound_addresses)
            queries.push_back(SpfQuery{domain, address, relay_.spf_include});
        if (queries.empty()) queries.push_back(SpfQuery{domain, std::nullopt, relay_.spf_include});

        std::optional<SpfEvaluation> first;
        bool authorized = false;
        bool incomplete = false;
        for (const auto& query : queries) {
            auto evaluation = evaluate_spf(query, facts_);
            for (auto& question : evaluation.missing)
                ask(std::move(question));
            incomplete = incomplete || !evaluation.missing.empty();
            authorized = authorized || evaluation.result == SpfResult::pass;
            if (!first) first = std::move(evaluation);
        }
        health_.spf_result = authorized ? SpfResult::pass : first->result;
        health_.spf_reason = authorized ? "" : first->reason;
        if (incomplete) return;
        spf_authorized_ = authorized;
        if (authorized) return;

        switch (first->result) {
            case SpfResult::permerror:
                if (first->lookup_limit_exceeded) {
                    add(health_code::spf_lookup_limit, Severity::problem,
                        "The SPF record of " + domain + " needs too many DNS lookups (" +
                            first->reason +
                            "), so receivers treat it as an error: flatten includes or "
                            "replace them with ip4:/ip6: ranges.",
                        domain);
                } else {
                    add(health_code::spf_invalid, Severity::problem,
                        "The SPF record of " + domain + " cannot be evaluated (" + first->reason +
                            "): receivers treat it as an error. Correct it.",
                        domain);
                }
                return;
            case SpfResult::temperror:
                unanswered_.push_back(first->reason);
                return;
            case SpfResult::unknown:
                add(health_code::spf_unverifiable, Severity::info,
                    "Whether the SPF record of " + domain +
                        " authorizes this relay cannot be checked (" + first->reason +
                        "); make sure it does, e.g. with \"" + suggested_mechanism() + "\".",
                    domain);
                return;
            default:
                break;
        }
        if (relay_.outbound_addresses.empty() && relay_.spf_include.empty()) {
            add(health_code::spf_unverifiable, Severity::info,
                "This relay's outbound addresses and SPF include name are not configured, so "
                "whether the SPF record of " +
                    domain + " authorizes it cannot be checked.",
                domain);
            return;
        }
        add(health_code::spf_does_not_authorize_relay, Severity::problem,
            "The SPF record of " + domain + " does not authorize this relay (the result is " +
                to_string(first->result) + "): add \"" + suggested_mechanism() +
                "\" before its all mechanism.",
            domain);
    }

    std::string suggested_mechanism() const {
        if (!relay_.spf_include.empty()) return "include:" + relay_.spf_include;
        std::string mechanisms;
        for (const auto& address : relay_.outbound_addresses) {
            if (!mechanisms.empty()) mechanisms += ' ';
            auto text = address.to_string();
            text = text.substr(0, text.find('/'));
            mechanisms += (address.ipv6() ? "ip6:" : "ip4:") + text;
        }
        return mechanisms.empty() ? "include:<the relay's SPF name>" : mechanisms;
    }

    std::string suggested_spf() const { return "v=spf1 " + suggested_mechanism() + " ~all"; }

    void summary() {
        health_.dkim_aligned = dkim_signs_ && aligned(health_.domain, health_.from_domain,
                                                      health_.dkim_alignment, suffixes_);
        health_.spf_aligned = spf_authorized_ && aligned(health_.domain, health_.from_domain,
                                                         health_.spf_alignment, suffixes_);
        health_.dmarc_pass = health_.dkim_aligned || health_.spf_aligned;
        if (!unanswered_.empty()) {
            std::string names;
            for (const auto& name : unanswered_)
                names += (names.empty() ? "" : ", ") + name;
            add(health_code::dns_unavailable, Severity::problem,
                "Some DNS lookups did not get an answer (" + names +
                    "), so parts of this check are inconclusive; make sure the domain's name "
                    "servers answer. The check is repeated automatically.",
                unanswered_.front());
        }
        if (health_.dmarc_pass || !unanswered_.empty() || !health_.missing.empty()) return;
        add(health_code::dmarc_would_fail, Severity::problem,
            "Mail from " + health_.from_domain +
                " sent through this relay would fail DMARC: it is neither signed with a "
                "published DKIM key of an aligned domain nor sent from an address the SPF "
                "record authorizes. Fix the DKIM or SPF problems above.");
    }

    const DomainHealthInput& input_;
    const RelayIdentity& relay_;
    const DnsFacts& facts_;
    const PublicSuffixList& suffixes_;
    DomainHealth health_;
    std::vector<std::string> unanswered_;
    bool dkim_signs_ = false;
    bool spf_authorized_ = false;
};

}  // namespace

const std::vector<std::string_view>& all_health_codes() {
    static const std::vector<std::string_view> codes = {
        health_code::dkim_signing_off,
        health_code::dkim_no_active_key,
        health_code::dkim_record_missing,
        health_code::dkim_record_mismatch,
        health_code::spf_missing,
        health_code::spf_multiple,
        health_code::spf_invalid,
        health_code::spf_lookup_limit,
        health_code::spf_does_not_authorize_relay,
        health_code::spf_unverifiable,
        health_code::dmarc_missing,
        health_code::dmarc_invalid,
        health_code::dmarc_policy_none,
        health_code::dmarc_would_fail,
        health_code::dns_unavailable,
    };
    return codes;
}

const char* to_string(DkimRecordStatus status) {
    switch (status) {
        case DkimRecordStatus::published:
            return "published";
        case DkimRecordStatus::missing:
            return "missing";
        case DkimRecordStatus::mismatch:
            return "mismatch";
        case DkimRecordStatus::unavailable:
            break;
    }
    return "unavailable";
}

const char* to_string(Severity severity) {
    return severity == Severity::info ? "info" : "problem";
}

DkimRecordStatus dkim_record_status(const dns::TxtAnswer& answer, std::string_view public_key) {
    if (!conclusive(answer.status)) return DkimRecordStatus::unavailable;
    const auto expected = without_white_space(public_key);
    bool other_key = false;
    for (const auto& text : answer.records) {
        const auto published = dkim::public_key_of_record(text);
        if (!published) continue;
        if (!expected.empty() && *published == expected) return DkimRecordStatus::published;
        other_key = true;
    }
    return other_key ? DkimRecordStatus::mismatch : DkimRecordStatus::missing;
}

std::optional<RelayIdentity> relay_identity(const std::vector<std::string>& source_addresses,
                                            std::string spf_include) {
    RelayIdentity relay;
    for (const auto& text : source_addresses) {
        if (text.empty()) continue;
        if (text.find('/') != std::string::npos) return std::nullopt;
        auto address = Network::parse(text);
        if (!address) return std::nullopt;
        relay.outbound_addresses.push_back(*address);
    }
    relay.spf_include = normalized_name(spf_include);
    return relay;
}

bool DomainHealth::has(std::string_view code) const {
    return std::any_of(findings.begin(), findings.end(),
                       [code](const HealthFinding& finding) { return finding.code == code; });
}

DomainHealth assess_domain_health(const DomainHealthInput& input, const RelayIdentity& relay,
                                  const DnsFacts& facts, const PublicSuffixList& suffixes) {
    return Assessment(input, relay, facts, suffixes).run();
}

}  // namespace smarthost::policy
