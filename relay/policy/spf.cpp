#include "relay/policy/spf.hpp"

#include <algorithm>

#include "core/ascii.hpp"

namespace smarthost::policy {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::vector<std::string_view> split_terms(std::string_view text) {
    std::vector<std::string_view> terms;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = std::min(text.find(' ', start), text.size());
        if (end > start) terms.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return terms;
}

// A cidr length: "0" or no leading zero, at most `max`.
std::optional<int> prefix_length(std::string_view digits, int max) {
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
    int value = 0;
    for (char c : digits) {
        if (!is_digit(c)) return std::nullopt;
        value = value * 10 + (c - '0');
    }
    if (value > max) return std::nullopt;
    return value;
}

// domain-end (RFC 7208 section 7.1): "." toplabel ["."], a toplabel being letters, digits
// and inner hyphens with at least one letter.
bool valid_domain_end(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    const auto top = name.substr(dot + 1);
    if (top.empty() || top.front() == '-' || top.back() == '-') return false;
    bool letter = false;
    for (char c : top) {
        if (is_alpha(c)) {
            letter = true;
        } else if (!is_digit(c) && c != '-') {
            return false;
        }
    }
    return letter;
}

// A macro-string (section 7.1): visible characters, '%' only as %%, %_, %- or %{...}.
bool valid_macro_string(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c < 0x21 || c > 0x7e) return false;
        if (c != '%') continue;
        if (i + 1 >= text.size()) return false;
        const char next = text[++i];
        if (next == '%' || next == '_' || next == '-') continue;
        if (next != '{') return false;
        const auto close = text.find('}', i);
        if (close == std::string_view::npos || close == i + 1) return false;
        const char letter = ascii_lower(text[i + 1]);
        if (std::string_view("slodiphcrtv").find(letter) == std::string_view::npos) return false;
        i = close;
    }
    return true;
}

bool valid_domain_spec(std::string_view spec) {
    if (spec.empty() || !valid_macro_string(spec)) return false;
    // A spec ending in a macro expansion needs no literal top label.
    if (spec.find('%') != std::string_view::npos) return true;
    return valid_domain_end(spec);
}

std::optional<SpfResult> qualifier_of(char c) {
    switch (c) {
        case '+':
            return SpfResult::pass;
        case '-':
            return SpfResult::fail;
        case '~':
            return SpfResult::softfail;
        case '?':
            return SpfResult::neutral;
        default:
            return std::nullopt;
    }
}

std::optional<SpfTerm::Kind> mechanism_kind(std::string_view name) {
    using Kind = SpfTerm::Kind;
    static constexpr std::pair<std::string_view, Kind> k_names[] = {
        {"all", Kind::all}, {"include", Kind::include}, {"a", Kind::a},
        {"mx", Kind::mx},   {"ptr", Kind::ptr},         {"ip4", Kind::ip4},
        {"ip6", Kind::ip6}, {"exists", Kind::exists},
    };
    for (const auto& [text, kind] : k_names)
        if (iequals(name, text)) return kind;
    return std::nullopt;
}

// Parses one directive into `term`; "" or why it is malformed.
std::string parse_directive(std::string_view text, SpfTerm& term) {
    using Kind = SpfTerm::Kind;
    const std::string original(text);
    if (auto qualifier = qualifier_of(text.front())) {
        term.qualifier = *qualifier;
        text.remove_prefix(1);
    }
    const auto name_end = std::min(text.find_first_of(":/"), text.size());
    const auto kind = mechanism_kind(text.substr(0, name_end));
    if (!kind) return "unknown mechanism \"" + original + "\"";
    term.kind = *kind;
    text.remove_prefix(name_end);
    const auto bad = [&] { return "malformed mechanism \"" + original + "\""; };

    switch (*kind) {
        case Kind::all:
            return text.empty() ? "" : bad();
        case Kind::include:
        case Kind::exists:
            if (text.empty() || text.front() != ':') return bad();
            term.domain = std::string(text.substr(1));
            return valid_domain_spec(term.domain) ? "" : bad();
        case Kind::ptr:
            if (text.empty()) return "";
            if (text.front() != ':') return bad();
            term.domain = std::string(text.substr(1));
            return valid_domain_spec(term.domain) ? "" : bad();
        case Kind::a:
        case Kind::mx: {
            const auto slash = std::min(text.find('/'), text.size());
            auto spec = text.substr(0, slash);
            auto cidr = text.substr(slash);
            if (!spec.empty()) {
                if (spec.front() != ':') return bad();
                term.domain = std::string(spec.substr(1));
                if (!valid_domain_spec(term.domain)) return bad();
            }
            // dual-cidr-length: "/n", "//m" or "/n//m".
            const auto ipv6_at = cidr.find("//");
            auto ipv4_part = cidr.substr(0, ipv6_at);
            if (!ipv4_part.empty()) {
                auto length = prefix_length(ipv4_part.substr(1), 32);
                if (!length) return bad();
                term.ipv4_prefix = *length;
            }
            if (ipv6_at != std::string_view::npos) {
                auto length = prefix_length(cidr.substr(ipv6_at + 2), 128);
                if (!length) return bad();
                term.ipv6_prefix = *length;
            }
            return "";
        }
        case Kind::ip4:
        case Kind::ip6: {
            if (text.empty() || text.front() != ':') return bad();
            text.remove_prefix(1);
            const bool ipv6 = *kind == Kind::ip6;
            const auto slash = text.find('/');
            if (slash != std::string_view::npos &&
                !prefix_length(text.substr(slash + 1), ipv6 ? 128 : 32))
                return bad();
            auto network = Network::parse(text);
            if (!network || network->ipv6() != ipv6) return bad();
            term.network = *network;
            return "";
        }
    }
    return bad();
}

// A modifier's name (section 12): ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
bool valid_modifier_name(std::string_view name) {
    if (name.empty() || !is_alpha(name.front())) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.';
    });
}

}  // namespace

const char* to_string(SpfResult result) {
    switch (result) {
        case SpfResult::none:
            return "none";
        case SpfResult::neutral:
            return "neutral";
        case SpfResult::pass:
            return "pass";
        case SpfResult::fail:
            return "fail";
        case SpfResult::softfail:
            return "softfail";
        case SpfResult::temperror:
            return "temperror";
        case SpfResult::permerror:
            return "permerror";
        case SpfResult::unknown:
            break;
    }
    return "unknown";
}

bool is_spf_record(std::string_view text) {
    return istarts_with(text, "v=spf1") && (text.size() == 6 || text[6] == ' ');
}

SpfParse parse_spf(std::string_view text) {
    if (!is_spf_record(text)) return {std::nullopt, "the record does not start with v=spf1"};
    SpfRecord record;
    bool seen_exp = false;
    const auto terms = split_terms(text.substr(6));
    for (const auto term_text : terms) {
        const auto equals = term_text.find('=');
        const auto colon_or_slash = term_text.find_first_of(":/");
        if (equals != std::string_view::npos && equals < colon_or_slash) {
            const auto name = term_text.substr(0, equals);
            const auto value = term_text.substr(equals + 1);
            if (!valid_modifier_name(name))
                return {std::nullopt, "malformed modifier \"" + std::string(term_text) + "\""};
            if (iequals(name, "redirect") || iequals(name, "exp")) {
                if (!valid_domain_spec(value))
                    return {std::nullopt, "malformed modifier \"" + std::string(term_text) + "\""};
                // Section 6: each at most once.
                const bool redirect = iequals(name, "redirect");
                if (redirect ? record.redirect.has_value() : seen_exp)
                    return {std::nullopt, "more than one " + to_lower(name) + "= modifier"};
                if (redirect) {
                    record.redirect = std::string(value);
                } else {
                    seen_exp = true;
                }
            } else if (!valid_macro_string(value)) {
                return {std::nullopt, "malformed modifier \"" + std::string(term_text) + "\""};
            }
            continue;
        }
        SpfTerm term;
        auto error = parse_directive(term_text, term);
        if (!error.empty()) return {std::nullopt, std::move(error)};
        record.terms.push_back(std::move(term));
    }
    return {std::move(record), ""};
}

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
