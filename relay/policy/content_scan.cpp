#include "relay/policy/content_scan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>

namespace smarthost::policy {
namespace {

namespace json = boost::json;

constexpr std::size_t k_max_action = 32;
constexpr std::size_t k_header_symbols = 16;
// rspamd's answers nest four deep (answer, symbols, symbol, options); anything much
// deeper is not one of its answers, and a parser must not recurse at a stranger's will.
constexpr unsigned k_max_depth = 8;

std::string field_value(std::string_view value) {
    std::string clean;
    clean.reserve(value.size());
    for (const char c : value) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet < 0x20 || octet == 0x7f) continue;
        clean.push_back(c);
    }
    return clean;
}

std::optional<double> number(const json::value* value) {
    if (!value) return std::nullopt;
    double number = 0;
    if (value->is_double()) {
        number = value->get_double();
    } else if (value->is_int64()) {
        number = static_cast<double>(value->get_int64());
    } else if (value->is_uint64()) {
        number = static_cast<double>(value->get_uint64());
    } else {
        return std::nullopt;
    }
    if (!std::isfinite(number) || std::fabs(number) > k_max_score) return std::nullopt;
    return number;
}

bool symbol_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

std::optional<std::string> symbol_name(std::string_view name) {
    if (name.empty() || name.size() > k_max_symbol_name) return std::nullopt;
    if (!std::all_of(name.begin(), name.end(), symbol_char)) return std::nullopt;
    return std::string(name);
}

std::string action_text(const json::value* value) {
    if (!value || !value->is_string()) return {};
    std::string action;
    for (const char c : value->get_string()) {
        if (action.size() == k_max_action) break;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' ' || c == '_')
            action.push_back(c);
    }
    return action;
}

std::string score_text(double score) {
    return fmt::format("{:.2f}", score);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> checkv2_fields(const ScanEnvelope& envelope) {
    std::vector<std::pair<std::string, std::string>> fields;
    if (!envelope.user.empty()) fields.emplace_back("User", field_value(envelope.user));
    fields.emplace_back("IP", field_value(envelope.client_ip));
    if (!envelope.helo.empty()) fields.emplace_back("Helo", field_value(envelope.helo));
    // rspamd reads an empty From as the null sender (RFC 5321 "<>").
    fields.emplace_back("From", envelope.sender.empty() ? "<>" : field_value(envelope.sender));
    for (const auto& recipient : envelope.recipients)
        fields.emplace_back("Rcpt", field_value(recipient));
    fields.emplace_back("Queue-Id", field_value(envelope.queue_id));
    return fields;
}

std::optional<ScanAnswer> parse_checkv2_answer(std::string_view body) {
    json::parse_options options;
    options.max_depth = k_max_depth;
    std::error_code error;
    const json::value root = json::parse(body, error, {}, options);
    if (error || !root.is_object()) return std::nullopt;
    const auto& object = root.get_object();
    const auto score = number(object.if_contains("score"));
    if (!score) return std::nullopt;
    ScanAnswer answer;
    answer.score = *score;
    answer.required_score = number(object.if_contains("required_score"));
    answer.action = action_text(object.if_contains("action"));
    const auto* symbols = object.if_contains("symbols");
    if (symbols && symbols->is_object()) {
        for (const auto& entry : symbols->get_object()) {
            auto name = symbol_name(entry.key());
            if (!name || !entry.value().is_object()) continue;
            const auto symbol_score = number(entry.value().get_object().if_contains("score"));
            answer.symbols.push_back({std::move(*name), symbol_score.value_or(0)});
        }
    }
    std::sort(answer.symbols.begin(), answer.symbols.end(),
              [](const ScanSymbol& a, const ScanSymbol& b) {
                  if (std::fabs(a.score) != std::fabs(b.score))
                      return std::fabs(a.score) > std::fabs(b.score);
                  return a.name < b.name;
              });
    if (answer.symbols.size() > k_max_symbols) answer.symbols.resize(k_max_symbols);
    return answer;
}

const char* to_string(ScanAction action) {
    switch (action) {
        case ScanAction::accept:
            return "accept";
        case ScanAction::add_header:
            return "add_header";
        case ScanAction::hold:
            return "hold";
        case ScanAction::reject:
            break;
    }
    return "reject";
}

const char* to_string(ScanFailure failure) {
    switch (failure) {
        case ScanFailure::none:
            return "none";
        case ScanFailure::unreachable:
            return "unreachable";
        case ScanFailure::timeout:
            return "timeout";
        case ScanFailure::bad_status:
            return "bad_status";
        case ScanFailure::bad_answer:
            return "bad_answer";
        case ScanFailure::answer_too_large:
            return "answer_too_large";
        case ScanFailure::io:
            break;
    }
    return "io";
}

ScanThresholds merge_thresholds(const ScanThresholds& account, const ScanThresholds& defaults) {
    return ScanThresholds{account.add_header ? account.add_header : defaults.add_header,
                          account.hold ? account.hold : defaults.hold,
                          account.reject ? account.reject : defaults.reject};
}

ScanAction decide(double score, const ScanThresholds& thresholds) {
    if (thresholds.reject && score >= *thresholds.reject) return ScanAction::reject;
    if (thresholds.hold && score >= *thresholds.hold) return ScanAction::hold;
    if (thresholds.add_header && score >= *thresholds.add_header) return ScanAction::add_header;
    return ScanAction::accept;
}

std::string spam_header_fields(const ScanAnswer& answer, ScanAction action,
                               const ScanThresholds& thresholds) {
    std::optional<double> required;
    for (const auto& threshold : {thresholds.add_header, thresholds.hold, thresholds.reject})
        if (threshold && (!required || *threshold < *required)) required = threshold;
    std::string fields = "X-Spam-Score: " + score_text(answer.score) + "\r\n";
    fields += "X-Spam-Status: ";
    fields += action == ScanAction::accept ? "No" : "Yes";
    fields += ", score=" + score_text(answer.score);
    if (required) fields += " required=" + score_text(*required);
    fields += "\r\n";
    if (!answer.symbols.empty()) {
        std::string names;
        for (std::size_t i = 0; i < answer.symbols.size() && i < k_header_symbols; ++i) {
            if (!names.empty()) names += ",\r\n\t";
            names += answer.symbols[i].name + "(" + score_text(answer.symbols[i].score) + ")";
        }
        fields += "X-Spam-Symbols: " + names + "\r\n";
    }
    return fields;
}

std::string symbols_json(const ScanAnswer& answer) {
    json::object object;
    for (const auto& symbol : answer.symbols)
        object[symbol.name] = symbol.score;
    return json::serialize(object);
}

std::string held_reason(const ScanAnswer& answer, const ScanThresholds& thresholds) {
    std::string reason = "held for review: spam score " + score_text(answer.score);
    if (thresholds.hold) reason += " reached the hold threshold " + score_text(*thresholds.hold);
    return reason;
}

}  // namespace smarthost::policy
