#include "relay/policy/spf.hpp"

#include <algorithm>

#include "core/ascii.hpp"

namespace smarthost::policy {
namespace {

class Evaluator {
  public:
    Evaluator(const SpfQuery& query, const DnsFacts& facts) : query_(query), facts_(facts) {}

    SpfEvaluation run() {
        out_.result = check_host(normalized_name(query_.domain));
        return std::move(out_);
    }

  private:
    enum class Match { no, yes, stop };

    // Section 7: only %{d} and %{o} (the domain, here always known) expand; a macro on the
    // client or the local part is unknown (nullopt) to a check without a message.
    std::optional<std::string> expand(const std::string& spec, const std::string& domain) {
        if (spec.empty()) return domain;
        std::string out;
        for (std::size_t i = 0; i < spec.size(); ++i) {
            if (spec[i] != '%') {
                out += spec[i];
                continue;
            }
            const char next = spec[++i];
            if (next == '%') {
                out += '%';
            } else if (next == '_') {
                out += ' ';
            } else if (next == '-') {
                out += "%20";
            } else {
                const auto close = spec.find('}', i);
                const auto body = to_lower(std::string_view(spec).substr(i + 1, close - i - 1));
                if (body == "d") {
                    out += domain;
                } else if (body == "o") {
                    out += normalized_name(query_.domain);
                } else {
                    return std::nullopt;
                }
                i = close;
            }
        }
        return normalized_name(out);
    }

    bool trusted(const std::string& target) const {
        return !query_.trusted_include.empty() && target == normalized_name(query_.trusted_include);
    }

    // Counts a term that causes a DNS lookup; false once past the limit.
    bool count_dns_term() {
        if (++out_.dns_terms <= k_spf_dns_term_limit) return true;
        out_.lookup_limit_exceeded = true;
        stop(SpfResult::permerror,
             "more than 10 DNS lookups (include, a, mx, ptr, exists, "
             "redirect) are needed to evaluate the record");
        return false;
    }

    bool count_void_lookup() {
        if (++void_lookups_ <= k_spf_void_lookup_limit) return true;
        out_.lookup_limit_exceeded = true;
        stop(SpfResult::permerror, "more than 2 lookups of the record found no record");
        return false;
    }

    void stop(SpfResult result, std::string reason) {
        stopped_ = result;
        if (out_.reason.empty()) out_.reason = std::move(reason);
    }

    void ask(DnsQuestion::Type type, const std::string& name) {
        DnsQuestion question{type, name};
        if (std::find(out_.missing.begin(), out_.missing.end(), question) == out_.missing.end())
            out_.missing.push_back(std::move(question));
    }

    SpfResult check_host(const std::string& domain) {
        const auto* answer = facts_.txt(domain);
        if (!answer) {
            ask(DnsQuestion::Type::txt, domain);
            stop(SpfResult::unknown, "the TXT records of " + domain + " are not known yet");
            return SpfResult::unknown;
        }
        if (!conclusive(answer->status)) {
            stop(SpfResult::temperror, "the TXT lookup of " + domain + " failed");
            return SpfResult::temperror;
        }
        std::vector<std::string_view> records;
        for (const auto& text : answer->records)
            if (is_spf_record(text)) records.push_back(text);
        if (records.empty()) return SpfResult::none;
        if (records.size() > 1) {
            stop(SpfResult::permerror, domain + " has more than one SPF record");
            return SpfResult::permerror;
        }
        auto parsed = parse_spf(records.front());
        if (!parsed.record) {
            stop(SpfResult::permerror, "the SPF record of " + domain + ": " + parsed.error);
            return SpfResult::permerror;
        }
        for (const auto& term : parsed.record->terms) {
            const auto match = matches(term, domain);
            if (stopped_) return *stopped_;
            if (match == Match::yes) return term.qualifier;
        }
        if (!parsed.record->redirect) return SpfResult::neutral;
        if (!count_dns_term()) return *stopped_;
        const auto target = expand(*parsed.record->redirect, domain);
        if (!target) return unknown("redirect=" + *parsed.record->redirect);
        if (trusted(*target)) {
            out_.used_include_name = true;
            return SpfResult::pass;
        }
        const auto result = check_host(*target);
        if (stopped_) return *stopped_;
        if (result == SpfResult::none) {
            stop(SpfResult::permerror, "redirect=" + *target + " names a domain without SPF");
            return SpfResult::permerror;
        }
        return result;
    }

    SpfResult unknown(const std::string& term) {
        stop(SpfResult::unknown, term + " depends on the sending client and cannot be checked");
        return SpfResult::unknown;
    }

    // Section 5: whether one mechanism matches the client.
    Match matches(const SpfTerm& term, const std::string& domain) {
        using Kind = SpfTerm::Kind;
        switch (term.kind) {
            case Kind::all:
                return Match::yes;
            case Kind::ip4:
            case Kind::ip6:
                return query_.client && term.network->contains(*query_.client) ? Match::yes
                                                                               : Match::no;
            case Kind::ptr:
                // The relay's addresses have the relay's names, not the customer's: a ptr
                // mechanism never matches them (and section 5.5 asks not to use it).
                return count_dns_term() ? Match::no : Match::stop;
            case Kind::include:
                return include(term, domain);
            case Kind::a:
            case Kind::mx:
            case Kind::exists:
                break;
        }
        if (!count_dns_term()) return Match::stop;
        const auto target = expand(term.domain, domain);
        if (!target) {
            unknown(term.kind == Kind::exists ? "exists:" + term.domain : term.domain);
            return Match::stop;
        }
        if (term.kind == Kind::exists) return exists(*target);
        // Without a client no address can match, and none need be looked up.
        if (!query_.client) return Match::no;
        if (term.kind == Kind::a) return address_match(*target, term);
        return mx_match(*target, term);
    }

    Match include(const SpfTerm& term, const std::string& domain) {
        if (!count_dns_term()) return Match::stop;
        const auto target = expand(term.domain, domain);
        if (!target) {
            unknown("include:" + term.domain);
            return Match::stop;
        }
        if (trusted(*target)) {
            out_.used_include_name = true;
            return Match::yes;
        }
        // Section 5.2: pass matches; fail, softfail and neutral do not; none is permerror.
        switch (check_host(*target)) {
            case SpfResult::pass:
                return Match::yes;
            case SpfResult::fail:
            case SpfResult::softfail:
            case SpfResult::neutral:
                return Match::no;
            case SpfResult::none:
                stop(SpfResult::permerror, "include:" + *target + " names a domain without SPF");
                return Match::stop;
            case SpfResult::temperror:
            case SpfResult::permerror:
            case SpfResult::unknown:
                break;
        }
        return Match::stop;
    }

    Match exists(const std::string& target) {
        const auto* answer = facts_.addresses(DnsQuestion::Type::a, target);
        if (!answer) {
            ask(DnsQuestion::Type::a, target);
            stop(SpfResult::unknown, "the A records of " + target + " are not known yet");
            return Match::stop;
        }
        if (!conclusive(answer->status)) {
            stop(SpfResult::temperror, "the A lookup of " + target + " failed");
            return Match::stop;
        }
        if (!answer->records.empty()) return Match::yes;
        return count_void_lookup() ? Match::no : Match::stop;
    }

    DnsQuestion::Type client_family() const {
        return query_.client->ipv6() ? DnsQuestion::Type::aaaa : DnsQuestion::Type::a;
    }

    // Whether one of `addresses`, widened to the term's prefix, holds the client.
    bool holds_client(const std::vector<std::string>& addresses, const SpfTerm& term) const {
        const int prefix = query_.client->ipv6() ? term.ipv6_prefix : term.ipv4_prefix;
        for (const auto& address : addresses) {
            auto network = Network::parse(address + "/" + std::to_string(prefix));
            if (network && network->contains(*query_.client)) return true;
        }
        return false;
    }

    Match address_match(const std::string& target, const SpfTerm& term) {
        const auto type = client_family();
        const auto* answer = facts_.addresses(type, target);
        if (!answer) {
            ask(type, target);
            stop(SpfResult::unknown, "the addresses of " + target + " are not known yet");
            return Match::stop;
        }
        if (!conclusive(answer->status)) {
            stop(SpfResult::temperror, "the address lookup of " + target + " failed");
            return Match::stop;
        }
        if (answer->records.empty()) return count_void_lookup() ? Match::no : Match::stop;
        return holds_client(answer->records, term) ? Match::yes : Match::no;
    }

    Match mx_match(const std::string& target, const SpfTerm& term) {
        const auto* answer = facts_.mx(target);
        if (!answer) {
            ask(DnsQuestion::Type::mx, target);
            stop(SpfResult::unknown, "the MX records of " + target + " are not known yet");
            return Match::stop;
        }
        if (!conclusive(answer->status)) {
            stop(SpfResult::temperror, "the MX lookup of " + target + " failed");
            return Match::stop;
        }
        if (answer->records.empty()) return count_void_lookup() ? Match::no : Match::stop;
        // Section 4.6.4: more than 10 MX records is a permerror.
        if (answer->records.size() > k_spf_mx_limit) {
            out_.lookup_limit_exceeded = true;
            stop(SpfResult::permerror, target + " has more than 10 MX records");
            return Match::stop;
        }
        const auto type = client_family();
        bool incomplete = false;
        for (const auto& mx : answer->records) {
            if (mx.exchange == ".") continue;
            const auto host = normalized_name(mx.exchange);
            const auto* addresses = facts_.addresses(type, host);
            if (!addresses) {
                ask(type, host);
                incomplete = true;
                continue;
            }
            if (conclusive(addresses->status) && holds_client(addresses->records, term))
                return Match::yes;
        }
        if (incomplete) {
            stop(SpfResult::unknown, "the addresses of " + target + "'s MX hosts are not known");
            return Match::stop;
        }
        return Match::no;
    }

    const SpfQuery& query_;
    const DnsFacts& facts_;
    SpfEvaluation out_;
    int void_lookups_ = 0;
    std::optional<SpfResult> stopped_;
};

}  // namespace

SpfEvaluation evaluate_spf(const SpfQuery& query, const DnsFacts& facts) {
    return Evaluator(query, facts).run();
}

}  // namespace smarthost::policy
