#include "relay/delivery/dsn.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <string>

#include "core/ascii.hpp"

namespace smarthost::delivery {

namespace {

constexpr std::size_t k_max_line = 998;   // RFC 5322 2.1.1
constexpr std::size_t k_fold_width = 78;  // RFC 5322 2.1.1 "SHOULD"

bool has_8bit(std::string_view text) {
    return std::any_of(text.begin(), text.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// RFC 5322 3.3 date-time, in UTC.
std::string rfc5322_date(TimePoint when) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[64];
    const std::size_t length =
        std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &utc);
    return std::string(text, length);
}

// A field value on one logical line: CR, LF and other controls become spaces, so a
// remote server's reply cannot inject fields or break the structure.
std::string one_line(std::string_view value) {
    std::string result;
    result.reserve(value.size());
    bool space = false;
    for (char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            space = !result.empty();
            continue;
        }
        if (space && c != ' ') result += ' ';
        space = false;
        result += c;
    }
    while (!result.empty() && result.back() == ' ')
        result.pop_back();
    return result;
}

// `first` then the words of `value`, broken before a word that would pass 78 columns;
// continuation lines start with `indent`. No line passes 998: a longer word is split
// (better a changed diagnostic than an undeliverable DSN).
std::string fold(std::string_view first, std::string_view raw_value, std::string_view indent) {
    const std::string value = one_line(raw_value);
    std::string out(first);
    std::size_t line = out.size();
    bool line_has_word = false;
    std::size_t pos = 0;
    while (pos < value.size()) {
        std::size_t end = value.find(' ', pos);
        if (end == std::string::npos) end = value.size();
        std::string_view word(value.data() + pos, end - pos);
        pos = end + 1;
        if (line_has_word) {
            if (line + 1 + word.size() > k_fold_width) {
                out += "\r\n";
                out += indent;
                line = indent.size();
            } else {
                out += ' ';
                ++line;
            }
        }
        while (line + word.size() > k_max_line) {
            const std::size_t room = k_max_line - line;
            out += word.substr(0, room);
            out += "\r\n";
            out += indent;
            line = indent.size();
            word.remove_prefix(room);
        }
        out += word;
        line += word.size();
        line_has_word = true;
    }
    out += "\r\n";
    return out;
}

// A header field (RFC 5322 2.2.3 folding).
std::string field(std::string_view name, std::string_view value) {
    return fold(std::string(name) + ": ", value, " ");
}

// Original content as a MIME body part: CRLF line ends, long lines broken at 998.
std::string as_crlf_lines(std::string_view content) {
    std::string out;
    out.reserve(content.size() + content.size() / 64 + 2);
    std::size_t line = 0;
    for (std::size_t i = 0; i < content.size(); ++i) {
        const char c = content[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
            out += "\r\n";
            line = 0;
            continue;
        }
        if (line == k_max_line) {
            out += "\r\n";
            line = 0;
        }
        out += c;
        ++line;
    }
    if (line != 0) out += "\r\n";
    return out;
}

// The header section: everything before the first empty line.
std::string_view header_section(std::string_view content) {
    if (content.starts_with("\r\n") || content.starts_with("\n")) return {};
    for (std::string_view separator : {"\r\n\r\n", "\n\n"}) {
        const std::size_t end = content.find(separator);
        if (end != std::string_view::npos) return content.substr(0, end + separator.size() / 2);
    }
    return content;
}

}  // namespace

const char* action_name(DsnAction action) {
    switch (action) {
        case DsnAction::failed:
            return "failed";
        case DsnAction::delayed:
            return "delayed";
        case DsnAction::delivered:
            return "delivered";
        case DsnAction::relayed:
            return "relayed";
    }
    return "failed";
}

std::optional<DsnAction> action_named(std::string_view name) {
    for (const auto action :
         {DsnAction::failed, DsnAction::delayed, DsnAction::delivered, DsnAction::relayed})
        if (name == action_name(action)) return action;
    return std::nullopt;
}

namespace {

std::string status_for(const DsnRecipient& recipient) {
    std::string status =
        recipient.status.empty() ? status_of_reply(recipient.diagnostic) : recipient.status;
    if (!status.empty()) return status;
    switch (recipient.action) {
        case DsnAction::failed:
            return "5.0.0";
        case DsnAction::delayed:
            return "4.0.0";
        case DsnAction::delivered:
        case DsnAction::relayed:
            return "2.0.0";
    }
    return "5.0.0";
}

std::string subject_for(const std::vector<const DsnRecipient*>& listed) {
    auto any = [&](DsnAction action) {
        return std::any_of(listed.begin(), listed.end(),
                           [&](const DsnRecipient* r) { return r->action == action; });
    };
    if (any(DsnAction::failed)) return "Undelivered Mail Returned to Sender";
    if (any(DsnAction::delayed)) return "Delayed Mail (still being retried)";
    return "Successful Mail Delivery Report";
}

std::string human_readable(const DsnSettings& settings,
                           const std::vector<const DsnRecipient*>& listed) {
    std::string text = "This is the mail system at host " + settings.reporting_host + ".\r\n\r\n";
    auto section = [&](DsnAction action, std::string_view heading) {
        bool started = false;
        for (const DsnRecipient* recipient : listed) {
            if (recipient->action != action) continue;
            if (!started) text += std::string(heading) + "\r\n\r\n";
            started = true;
            std::string line = "<" + recipient->address + ">";
            if (!recipient->remote_mta.empty()) line += " (host " + recipient->remote_mta + ")";
            if (!recipient->diagnostic.empty()) line += ": " + recipient->diagnostic;
            text += fold("", line, "    ");
        }
        if (started) text += "\r\n";
    };
    section(DsnAction::failed,
            "Your message could not be delivered to the following recipients. This is a "
            "permanent error.");
    section(DsnAction::delayed,
            "Your message has not yet been delivered to the following recipients. Delivery "
            "will be retried; you do not need to resend it.");
    section(DsnAction::delivered, "Your message was delivered to the following recipients.");
    section(DsnAction::relayed,
            "Your message was relayed to the following recipients' mail servers, which do not "
            "send delivery reports: this is the last report about them.");
    text +=
        "The delivery report and the original message's headers (or the whole message)\r\n"
        "are attached.\r\n";
    return text;
}

std::string delivery_status(const DsnSettings& settings, const DsnOriginal& original,
                            const std::vector<const DsnRecipient*>& listed) {
    // RFC 3464 2.2: per-message fields, then one block per recipient (2.3).
    std::string status;
    if (!original.envid.empty()) status += field("Original-Envelope-Id", original.envid);
    status += field("Reporting-MTA", "dns; " + settings.reporting_host);
    status += field("Arrival-Date", rfc5322_date(original.received_at));
    for (const DsnRecipient* recipient : listed) {
        status += "\r\n";
        if (!recipient->orcpt.empty()) {
            const bool typed = recipient->orcpt.find(';') != std::string::npos;
            status += field("Original-Recipient",
                            typed ? recipient->orcpt : "rfc822;" + recipient->orcpt);
        }
        status += field("Final-Recipient", "rfc822;" + recipient->address);
        status += field("Action", action_name(recipient->action));
        status += field("Status", status_for(*recipient));
        if (!recipient->remote_mta.empty())
            status += field("Remote-MTA", "dns; " + recipient->remote_mta);
        if (!recipient->diagnostic.empty())
            status += field("Diagnostic-Code", "smtp; " + recipient->diagnostic);
        status += field("Last-Attempt-Date", rfc5322_date(recipient->last_attempt));
        if (recipient->action == DsnAction::delayed && recipient->will_retry_until)
            status += field("Will-Retry-Until", rfc5322_date(*recipient->will_retry_until));
    }
    return status;
}

std::string domain_of(std::string_view address) {
    const std::size_t at = address.rfind('@');
    return to_lower(at == std::string_view::npos ? std::string_view() : address.substr(at + 1));
}

}  // namespace

bool notify_requests(std::string_view notify, DsnAction action) {
    const bool success = action == DsnAction::delivered || action == DsnAction::relayed;
    if (notify.empty()) return !success;
    const std::string wanted = action == DsnAction::failed    ? "FAILURE"
                               : action == DsnAction::delayed ? "DELAY"
                                                              : "SUCCESS";
    const std::string list = to_upper(notify);
    std::size_t pos = 0;
    bool found = false;
    while (pos <= list.size()) {
        std::size_t end = list.find(',', pos);
        if (end == std::string::npos) end = list.size();
        const std::string_view keyword = std::string_view(list).substr(pos, end - pos);
        if (keyword == "NEVER") return false;
        if (keyword == wanted) found = true;
        pos = end + 1;
    }
    return found;
}

std::string status_of_reply(std::string_view reply) {
    if (reply.size() < 3 || !std::isdigit(static_cast<unsigned char>(reply[0])) ||
        !std::isdigit(static_cast<unsigned char>(reply[1])) ||
        !std::isdigit(static_cast<unsigned char>(reply[2])))
        return {};
    const char basic_class = reply[0];
    if (basic_class != '2' && basic_class != '4' && basic_class != '5') return {};
    // RFC 2034: the enhanced code follows the basic code and one space or hyphen.
    if (reply.size() > 4 && (reply[3] == ' ' || reply[3] == '-') && reply[4] == basic_class) {
        std::size_t end = 4;
        int dots = 0;
        bool digit_before = false;
        while (end < reply.size()) {
            const char c = reply[end];
            if (std::isdigit(static_cast<unsigned char>(c))) {
                digit_before = true;
            } else if (c == '.' && digit_before && dots < 2) {
                ++dots;
                digit_before = false;
            } else {
                break;
            }
            ++end;
        }
        const bool ends_clean = end == reply.size() || reply[end] == ' ' || reply[end] == '\r';
        if (dots == 2 && digit_before && ends_clean && end - 4 <= 11)
            return std::string(reply.substr(4, end - 4));
    }
    return std::string(1, basic_class) + ".0.0";
}

std::optional<Dsn> build_dsn(const DsnSettings& settings, const DsnOriginal& original,
                             const std::vector<DsnRecipient>& recipients, TimePoint now,
                             std::string_view unique_token) {
    // RFC 3461 6.2 / RFC 5321 6.1: never a report about a report (null sender).
    if (original.sender.empty()) return std::nullopt;
    std::vector<const DsnRecipient*> listed;
    for (const DsnRecipient& recipient : recipients) {
        if (notify_requests(recipient.notify, recipient.action)) listed.push_back(&recipient);
    }
    if (listed.empty()) return std::nullopt;

    const bool full = original.ret == smtp::DsnReturn::full &&
                      original.content.size() <= settings.full_content_limit;
    const std::string returned =
        as_crlf_lines(full ? original.content : header_section(original.content));
    const std::string human = human_readable(settings, listed);
    const std::string report = delivery_status(settings, original, listed);

    std::string boundary = "=_smarthost_" + std::string(unique_token);
    auto occurs = [&](const std::string& text) { return text.find(boundary) != std::string::npos; };
    for (int suffix = 1; occurs(returned) || occurs(human) || occurs(report); ++suffix)
        boundary = "=_smarthost_" + std::string(unique_token) + "_" + std::to_string(suffix);

    Dsn dsn;
    dsn.message_id = "<" + std::string(unique_token) + "@" + settings.reporting_host + ">";
    const bool eight_bit_text = has_8bit(human) || has_8bit(report);
    const bool eight_bit = eight_bit_text || has_8bit(returned) || has_8bit(original.sender);

    std::string& out = dsn.content;
    out += field("From", "Mail Delivery System <MAILER-DAEMON@" + settings.reporting_host + ">");
    out += field("To", "<" + original.sender + ">");
    out += field("Subject", subject_for(listed));
    out += field("Date", rfc5322_date(now));
    out += field("Message-ID", dsn.message_id);
    out += field("Auto-Submitted", "auto-replied");  // RFC 3834 5.1
    out += field("MIME-Version", "1.0");
    out += field("Content-Type",
                 "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
    out += "\r\n";
    out += "This is a MIME-encapsulated message.\r\n\r\n";

    out += "--" + boundary + "\r\n";
    out += field("Content-Description", "Notification");
    out += field("Content-Type",
                 eight_bit_text ? "text/plain; charset=utf-8" : "text/plain; charset=us-ascii");
    if (eight_bit_text) out += field("Content-Transfer-Encoding", "8bit");
    out += "\r\n" + human + "\r\n";

    out += "--" + boundary + "\r\n";
    out += field("Content-Description", "Delivery report");
    out += field("Content-Type", "message/delivery-status");
    if (has_8bit(report)) out += field("Content-Transfer-Encoding", "8bit");
    out += "\r\n" + report + "\r\n";

    out += "--" + boundary + "\r\n";
    out +=
        field("Content-Description", full ? "Undelivered message" : "Undelivered message headers");
    out += field("Content-Type", full ? "message/rfc822" : "text/rfc822-headers");
    // RFC 2046 5.2.1: message/rfc822 takes 7bit, 8bit or binary only.
    if (has_8bit(returned)) out += field("Content-Transfer-Encoding", "8bit");
    out += "\r\n" + returned;
    out += "\r\n--" + boundary + "--\r\n";

    dsn.envelope.sender = "";
    dsn.envelope.body = eight_bit ? smtp::BodyType::eight_bit_mime : smtp::BodyType::seven_bit;
    dsn.envelope.smtputf8 = has_8bit(original.sender);
    dsn.envelope.recipients.push_back(
        smtp::Recipient{original.sender, domain_of(original.sender), "", ""});
    for (const DsnRecipient* recipient : listed)
        dsn.reported.push_back(recipient->address);
    return dsn;
}

}  // namespace smarthost::delivery
