#pragma once
// Outbound content scanning with rspamd (docs/scanning.md), the pure part: the /checkv2
// request's header fields, the reading of its JSON answer, and the action a score earns
// under an account's thresholds. No I/O (relay/policy/rspamd_client.hpp does that).
//
// The answer comes from another program over the network: it is read as hostile. Any
// answer that is not a JSON object with a finite numeric score is "garbage" (the caller
// fails open); symbol names are bounded and reduced to rspamd's own alphabet before they
// reach a header, a row or a log.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smarthost::policy {

// What rspamd is told about the message besides its bytes (rspamd's HTTP protocol).
struct ScanEnvelope {
    std::string user;  // the authenticated username; empty for an allow-listed network
    std::string client_ip;
    std::string helo;
    std::string sender;  // envelope sender; empty for the null sender
    std::vector<std::string> recipients;
    std::string queue_id;
};

// The request's fields in order: User (when there is one), IP, Helo, From, one Rcpt per
// recipient, Queue-Id. Values lose CR, LF, NUL and other control characters, so no value
// can add a field of its own.
std::vector<std::pair<std::string, std::string>> checkv2_fields(const ScanEnvelope& envelope);

struct ScanSymbol {
    std::string name;  // [A-Za-z0-9_.-], at most k_max_symbol_name octets
    double score = 0;
};

struct ScanAnswer {
    double score = 0;
    std::optional<double> required_score;
    std::string action;  // rspamd's own ("no action", "reject", ...), bounded; informative
    std::vector<ScanSymbol> symbols;  // the k_max_symbols of largest |score|, by name
};

inline constexpr std::size_t k_max_symbols = 64;
inline constexpr std::size_t k_max_symbol_name = 64;
inline constexpr double k_max_score = 1000;  // beyond: garbage, like a non-number

// The answer, or nullopt when it is not one (not JSON, not an object, no finite score,
// nesting deeper than rspamd's own answers go).
std::optional<ScanAnswer> parse_checkv2_answer(std::string_view body);

// What the relay does with a scanned message.
enum class ScanAction { accept, add_header, hold, reject };
const char* to_string(ScanAction action);

// Unset: the account never gets that action.
struct ScanThresholds {
    std::optional<double> add_header;
    std::optional<double> hold;
    std::optional<double> reject;
};

// The account's own thresholds where it has them, the configuration's otherwise.
ScanThresholds merge_thresholds(const ScanThresholds& account, const ScanThresholds& defaults);

// The strongest action whose threshold the score reaches (score >= threshold).
ScanAction decide(double score, const ScanThresholds& thresholds);

// "X-Spam-Score: 7.20\r\nX-Spam-Status: Yes, score=7.20 required=6.00\r\n" (Yes when the
// action is not accept; required= the lowest threshold set, omitted when none), put in
// front of the stored message, with X-Spam-Symbols naming up to 16 of the symbols.
std::string spam_header_fields(const ScanAnswer& answer, ScanAction action,
                               const ScanThresholds& thresholds);

// The symbols as a JSON object {"NAME": score, ...}, for messages.scan_symbols.
std::string symbols_json(const ScanAnswer& answer);

// Why a scan gave no answer: the `reason` of smarthost_scan_failures_total.
enum class ScanFailure {
    none,
    unreachable,       // no connection (refused, no route, the name did not resolve)
    timeout,           // no complete answer within the timeout
    bad_status,        // an HTTP answer other than 200
    bad_answer,        // not rspamd's JSON (parse_checkv2_answer said no)
    answer_too_large,  // more than max_answer_bytes
    io,                // the connection broke otherwise
};
const char* to_string(ScanFailure failure);

// What the scan of one message came to.
struct ScanVerdict {
    ScanAction action = ScanAction::accept;
    std::optional<ScanAnswer> answer;  // none: not scanned (off, too large, failed)
    ScanThresholds thresholds;         // the account's, as merged with the defaults
    ScanFailure failure = ScanFailure::none;
};

// The 'held' event's reply: why the message waits for review.
std::string held_reason(const ScanAnswer& answer, const ScanThresholds& thresholds);

}  // namespace smarthost::policy
