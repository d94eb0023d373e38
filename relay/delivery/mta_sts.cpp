#include "relay/delivery/mta_sts.hpp"

#include <algorithm>
#include <charconv>

#include "core/ascii.hpp"

namespace smarthost::delivery::mta_sts {
namespace {

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && is_wsp(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_wsp(text.back()))
        text.remove_suffix(1);
    return text;
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// RFC 8461 3.1 sts-field-name and 3.2 sts-policy-field-name: ALPHA *31(ALPHA/DIGIT/_-.).
bool is_field_name(std::string_view name) {
    if (name.empty() || name.size() > 32 || !is_alpha(name.front())) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.';
    });
}

// RFC 8461 3.1 sts-field-value: 1*(%x21-3A / %x3C / %x3E-7E), no ';' nor '='.
bool is_txt_value(std::string_view value) {
    if (value.empty()) return false;
    return std::all_of(value.begin(), value.end(),
                       [](char c) { return c >= 0x21 && c <= 0x7e && c != ';' && c != '='; });
}

bool is_policy_id(std::string_view id) {
    return !id.empty() && id.size() <= k_max_id_length &&
           std::all_of(id.begin(), id.end(), [](char c) { return is_alpha(c) || is_digit(c); });
}

constexpr std::string_view k_txt_version = "v=STSv1";

bool is_sts_record(std::string_view record) {
    if (!record.starts_with(k_txt_version)) return false;
    const auto rest = record.substr(k_txt_version.size());
    return rest.empty() || rest.front() == ';' || is_wsp(rest.front());
}

// A host name label: letters, digits and inner hyphens, 1..63 characters.
bool is_label(std::string_view label) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
        return false;
    return std::all_of(label.begin(), label.end(),
                       [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; });
}

bool is_mx_pattern(std::string_view pattern) {
    if (pattern.starts_with("*.")) pattern.remove_prefix(2);
    if (pattern.empty() || pattern.size() > 253) return false;
    while (true) {
        const auto dot = pattern.find('.');
        if (!is_label(pattern.substr(0, dot))) return false;
        if (dot == std::string_view::npos) return true;
        pattern.remove_prefix(dot + 1);
    }
}

std::optional<std::uint32_t> parse_max_age(std::string_view text) {
    // RFC 8461 3.2: 1*10DIGIT, at most 31557600.
    if (text.empty() || text.size() > 10 || !std::all_of(text.begin(), text.end(), is_digit))
        return std::nullopt;
    std::uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value > k_max_age_limit_seconds) return std::nullopt;
    return static_cast<std::uint32_t>(value);
}

Error invalid(std::string message) {
    return Error{"MTA-STS policy: " + std::move(message), {}};
}

}  // namespace

std::string_view mode_name(Mode mode) {
    switch (mode) {
        case Mode::enforce:
            return "enforce";
        case Mode::testing:
            return "testing";
        case Mode::none:
            break;
    }
    return "none";
}

std::optional<Mode> mode_from_name(std::string_view name) {
    if (name == "enforce") return Mode::enforce;
    if (name == "testing") return Mode::testing;
    if (name == "none") return Mode::none;
    return std::nullopt;
}

std::optional<std::string> policy_id(const std::vector<std::string>& txt_records) {
    const std::string* found = nullptr;
    for (const auto& record : txt_records) {
        if (!is_sts_record(record)) continue;
        if (found) return std::nullopt;  // more than one STSv1 record: no policy
        found = &record;
    }
    if (!found) return std::nullopt;
    std::string_view rest = trim(std::string_view(*found).substr(k_txt_version.size()));
    if (!rest.starts_with(';')) return std::nullopt;  // "v=STSv1" alone has no id
    rest.remove_prefix(1);
    std::optional<std::string> id;
    while (!rest.empty()) {
        const auto delimiter = rest.find(';');
        const auto field = trim(rest.substr(0, delimiter));
        rest =
            delimiter == std::string_view::npos ? std::string_view{} : rest.substr(delimiter + 1);
        if (field.empty()) {
            // Only the record's end may follow an empty field (a trailing delimiter).
            if (!trim(rest).empty()) return std::nullopt;
            break;
        }
        const auto equals = field.find('=');
        if (equals == std::string_view::npos) return std::nullopt;
        const auto name = field.substr(0, equals);
        const auto value = field.substr(equals + 1);
        if (!is_field_name(name) || !is_txt_value(value)) return std::nullopt;
        if (name == "id" && !id) {
            if (!is_policy_id(value)) return std::nullopt;
            id = std::string(value);
        }
    }
    return id;
}

Result<Policy> parse_policy(std::string_view body) {
    if (body.size() > k_max_policy_bytes) return invalid("larger than 64 KiB");
    Policy policy;
    std::optional<std::string_view> version;
    std::optional<std::string_view> mode;
    std::optional<std::string_view> max_age;
    while (!body.empty()) {
        const auto newline = body.find('\n');
        auto line = body.substr(0, newline);
        body = newline == std::string_view::npos ? std::string_view{} : body.substr(newline + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (trim(line).empty()) continue;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return invalid("a line without ':'");
        const auto key = line.substr(0, colon);
        const auto value = trim(line.substr(colon + 1));
        if (!is_field_name(key)) return invalid("a malformed key");
        if (key == "mx") {
            if (!is_mx_pattern(value)) return invalid("a malformed mx pattern");
            if (policy.mx.size() == k_max_mx_patterns) return invalid("too many mx patterns");
            policy.mx.push_back(to_lower(value));
        } else if (key == "version") {
            if (!version) version = value;
        } else if (key == "mode") {
            if (!mode) mode = value;
        } else if (key == "max_age") {
            if (!max_age) max_age = value;
        }
    }
    if (!version || *version != "STSv1") return invalid("version is not STSv1");
    if (!mode) return invalid("no mode");
    const auto parsed_mode = mode_from_name(*mode);
    if (!parsed_mode) return invalid("mode is not enforce, testing or none");
    policy.mode = *parsed_mode;
    if (!max_age) return invalid("no max_age");
    const auto seconds = parse_max_age(*max_age);
    if (!seconds) return invalid("max_age is not a number of seconds up to 31557600");
    policy.max_age_seconds = *seconds;
    if (policy.mx.empty() && policy.mode != Mode::none) return invalid("no mx pattern");
    return policy;
}

Result<Policy> policy_from_response(int status, std::string_view content_type,
                                    std::string_view body) {
    if (status != 200) return invalid("HTTP status " + std::to_string(status));
    const auto media_type = trim(content_type.substr(0, content_type.find(';')));
    if (!iequals(media_type, "text/plain")) return invalid("Content-Type is not text/plain");
    return parse_policy(body);
}

bool mx_matches(std::string_view pattern, std::string_view host) {
    if (host.ends_with('.')) host.remove_suffix(1);
    if (!pattern.starts_with("*.")) return iequals(pattern, host);
    const auto suffix = pattern.substr(1);  // ".example.net"
    if (host.size() <= suffix.size()) return false;
    const auto label = host.substr(0, host.size() - suffix.size());
    return label.find('.') == std::string_view::npos && iequals(host.substr(label.size()), suffix);
}

bool mx_allowed(const Policy& policy, std::string_view host) {
    return std::any_of(policy.mx.begin(), policy.mx.end(),
                       [&](const std::string& pattern) { return mx_matches(pattern, host); });
}

Refresh refresh_for(const std::optional<CachedPolicy>& cached,
                    const std::optional<std::string>& txt_id,
                    std::chrono::system_clock::time_point now) {
    if (cached && now < cached->expires_at)
        return txt_id && *txt_id != cached->id ? Refresh::fetch : Refresh::use_cached;
    return txt_id ? Refresh::fetch : Refresh::no_policy;
}

HostDecision decide_host(const std::optional<Policy>& policy, std::string_view domain,
                         std::string_view host) {
    HostDecision decision;
    if (!policy || policy->mode == Mode::none) return decision;
    const bool allowed = mx_allowed(*policy, host);
    if (policy->mode == Mode::testing) {
        decision.testing_mismatch = !allowed;
        return decision;
    }
    if (allowed) {
        decision.verdict = HostVerdict::verify;
        return decision;
    }
    decision.verdict = HostVerdict::skip;
    decision.reason =
        "MTA-STS policy of " + std::string(domain) + " does not list MX host " + std::string(host);
    return decision;
}

}  // namespace smarthost::delivery::mta_sts
