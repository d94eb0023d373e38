#include "relay/smtp/received_header.hpp"

#include <chrono>
#include <cstdio>

namespace smarthost::smtp {

namespace {

constexpr std::size_t k_max_token_octets = 255;  // the longest domain name; keeps lines < 998

// Every field may carry client-chosen text (the EHLO name above all): only octets that
// cannot end the line, start a new header or break the comment structure pass.
std::string sanitized(std::string_view text, bool allow_utf8, bool allow_space = false) {
    std::string out;
    for (char c : text) {
        if (out.size() >= k_max_token_octets) break;
        auto u = static_cast<unsigned char>(c);
        bool printable = (u > 32 || (allow_space && u == 32)) && u < 127 && c != '(' && c != ')' &&
                         c != ';' && c != '\\';
        if (printable || (allow_utf8 && u >= 0x80)) out.push_back(c);
    }
    return out;
}

std::string or_unknown(std::string text) {
    return text.empty() ? "unknown" : text;
}

// TCP-info = address-literal (RFC 5321 section 4.4).
std::string address_literal(std::string_view client_ip) {
    auto ip = sanitized(client_ip, false);
    if (ip.empty()) return "unknown";
    if (ip.front() == '[') return ip;
    if (ip.find(':') != std::string::npos) return "[IPv6:" + ip + "]";
    return "[" + ip + "]";
}

}  // namespace

std::string received_header(const ReceivedFields& fields) {
    std::string header = "Received: from " + or_unknown(sanitized(fields.helo, false)) + " (" +
                         address_literal(fields.client_ip) + ")\r\n";
    header += "\tby " + or_unknown(sanitized(fields.by_hostname, false)) + " (smarthost) with " +
              or_unknown(sanitized(fields.protocol, false));
    auto queue_id = sanitized(fields.queue_id, false);
    if (!queue_id.empty()) header += " id " + queue_id;
    auto tls_version = sanitized(fields.tls_version, false);
    if (!tls_version.empty()) {
        header += "\r\n\t(using " + tls_version;
        auto cipher = sanitized(fields.tls_cipher, false);
        if (!cipher.empty()) header += " with cipher " + cipher;
        header += ")";
    }
    auto recipient = sanitized(fields.single_recipient, true, true);
    if (!recipient.empty()) header += "\r\n\tfor <" + recipient + ">";
    auto date = sanitized(fields.date, false, true);
    header += ";\r\n\t" + (date.empty() ? rfc5322_date_now() : date) + "\r\n";
    return header;
}

std::string rfc5322_date(std::int64_t unix_seconds) {
    using namespace std::chrono;
    static constexpr const char* k_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* k_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const sys_seconds time{seconds{unix_seconds}};
    const auto day = floor<days>(time);
    const year_month_day date{day};
    const hh_mm_ss clock{time - day};
    char text[64];
    std::snprintf(text, sizeof text, "%s, %02u %s %04d %02ld:%02ld:%02ld +0000",
                  k_days[weekday{day}.c_encoding()], static_cast<unsigned>(date.day()),
                  k_months[static_cast<unsigned>(date.month()) - 1], static_cast<int>(date.year()),
                  static_cast<long>(clock.hours().count()),
                  static_cast<long>(clock.minutes().count()),
                  static_cast<long>(clock.seconds().count()));
    return text;
}

std::string rfc5322_date_now() {
    const auto now = std::chrono::system_clock::now();
    return rfc5322_date(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

}  // namespace smarthost::smtp
