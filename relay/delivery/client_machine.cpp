#include "relay/delivery/client_machine.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>

namespace smarthost::delivery {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool has_non_ascii(std::string_view text) {
    return std::any_of(text.begin(), text.end(),
                       [](char c) { return static_cast<unsigned char>(c) > 127; });
}

// "x.y.z" at the start of `text` (RFC 3463: class 2/4/5, subject and detail of 1 to 3
// digits), followed by a space or the end; returns its length or 0.
std::size_t enhanced_code_length(std::string_view text) {
    if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
        return 0;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const std::size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < 4)
            ++i;
        if (i == start || i - start > 3) return 0;
        if (part == 0) {
            if (i >= text.size() || text[i] != '.') return 0;
            ++i;
        }
    }
    if (i < text.size() && text[i] != ' ') return 0;
    return i;
}

smtp::Reply make(int code, std::string_view enhanced, std::string text) {
    return smtp::Reply{code, std::string(enhanced), {std::move(text)}};
}

// A refusal of DATA or of the body: 5xx is permanent, anything else that is not a success
// (a 4xx, or a reply that makes no sense here) is worth another try.
Outcome failure_outcome(int code) {
    return code >= 500 && code < 600 ? Outcome::permanent : Outcome::temporary;
}

}  // namespace

// ---- replies ----------------------------------------------------------------------------

std::optional<smtp::Reply> ReplyReader::next(std::string& inbox) {
    if (malformed_) return std::nullopt;
    // Each line's code and text, until the last line of the reply.
    std::vector<std::pair<int, std::string_view>> lines;
    std::size_t pos = 0;
    for (;;) {
        const auto end = inbox.find('\n', pos);
        if (end == std::string::npos) {
            if (inbox.size() > max_reply_bytes_) malformed_ = true;
            return std::nullopt;
        }
        if (end > max_reply_bytes_) {
            malformed_ = true;
            return std::nullopt;
        }
        std::string_view line(inbox.data() + pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = end + 1;
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
            line[0] < '1' || line[0] > '5' ||
            (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
            malformed_ = true;
            return std::nullopt;
        }
        const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        lines.emplace_back(code, line.size() > 4 ? line.substr(4) : std::string_view());
        if (line.size() == 3 || line[3] == ' ') break;
    }
    // RFC 5321 section 4.2.1: every line carries the same code; the last one counts, and
    // an enhanced code is read only from lines that carry it, so its class is the reply's.
    smtp::Reply reply;
    reply.code = lines.back().first;
    reply.lines.clear();
    for (auto [code, text] : lines) {
        const auto n = enhanced_code_length(text);
        if (code == reply.code && n > 0 && text[0] == '0' + code / 100) {
            if (reply.enhanced.empty()) reply.enhanced = std::string(text.substr(0, n));
            text.remove_prefix(std::min(n + 1, text.size()));
        }
        reply.lines.emplace_back(text);
    }
    inbox.erase(0, pos);
    return reply;
}

std::optional<smtp::Reply> parse_reply(std::string_view text) {
    std::string inbox(text);
    ReplyReader reader;
    auto reply = reader.next(inbox);
    if (!reply || !inbox.empty()) return std::nullopt;
    return reply;
}

std::string describe(const smtp::Reply& reply) {
    std::string out = std::to_string(reply.code);
    if (!reply.enhanced.empty()) out += " " + reply.enhanced;
    bool first = true;
    for (const auto& line : reply.lines) {
        if (line.empty()) continue;
        out += first ? " " : "; ";
        out += line;
        first = false;
    }
    return out;
}

// ---- EHLO -------------------------------------------------------------------------------

bool Capabilities::offers_auth(std::string_view mechanism) const {
    return std::find(auth_mechanisms.begin(), auth_mechanisms.end(), upper(mechanism)) !=
           auth_mechanisms.end();
}

Capabilities parse_ehlo(const smtp::Reply& ehlo_reply) {
    Capabilities caps;
    caps.esmtp = ehlo_reply.code == 250;
    // The first line is the server's name and greeting; each further line one keyword.
    for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
        std::vector<std::string> words;
        std::string word;
        for (char c : ehlo_reply.lines[i] + " ") {
            if (c == ' ' || c == '=') {
                // "AUTH=PLAIN LOGIN" is the pre-RFC 4954 spelling some servers still send.
                if (!word.empty()) words.push_back(upper(word));
                word.clear();
            } else {
                word.push_back(c);
            }
        }
        if (words.empty()) continue;
        const auto& keyword = words[0];
        if (keyword == "PIPELINING") {
            caps.pipelining = true;
        } else if (keyword == "8BITMIME") {
            caps.eight_bit_mime = true;
        } else if (keyword == "SMTPUTF8") {
            caps.smtputf8 = true;
        } else if (keyword == "STARTTLS") {
            caps.starttls = true;
        } else if (keyword == "DSN") {
            caps.dsn = true;
        } else if (keyword == "ENHANCEDSTATUSCODES") {
            caps.enhanced_status_codes = true;
        } else if (keyword == "SIZE") {
            caps.size_announced = true;
            if (words.size() > 1 && !words[1].empty() && words[1].size() < 20 &&
                std::all_of(words[1].begin(), words[1].end(), is_digit))
                caps.max_size = std::stoull(words[1]);
        } else if (keyword == "AUTH") {
            for (std::size_t w = 1; w < words.size(); ++w)
                if (!caps.offers_auth(words[w])) caps.auth_mechanisms.push_back(words[w]);
        }
    }
    return caps;
}

// ---- the data section -------------------------------------------------------------------

void DotStuffer::feed(std::string_view chunk, std::string& out) {
    out.reserve(out.size() + chunk.size() + chunk.size() / 64 + 8);
    std::size_t i = 0;
    while (i < chunk.size()) {
        const char c = chunk[i];
        if (after_cr_) {
            after_cr_ = false;
            out.push_back('\n');
            at_line_start_ = true;
            if (c == '\n') {  // the CRLF we wanted
                ++i;
                continue;
            }
        }
        if (c == '\r') {
            out.push_back('\r');
            after_cr_ = true;
            at_line_start_ = false;
            ++i;
        } else if (c == '\n') {
            out.append("\r\n");
            at_line_start_ = true;
            ++i;
        } else {
            // RFC 5321 section 4.5.2: a line starting with "." gets one more.
            if (at_line_start_ && c == '.') out.push_back('.');
            at_line_start_ = false;
            // The rest of the line up to CR or LF is copied as one run: a push_back per
            // byte made this loop a tenth of the delivery role's CPU time at 32 KiB.
            std::size_t end = i + 1;
            while (end < chunk.size() && chunk[end] != '\r' && chunk[end] != '\n')
                ++end;
            out.append(chunk.data() + i, end - i);
            i = end;
        }
    }
}

void DotStuffer::finish(std::string& out) {
    if (after_cr_) {
        out.push_back('\n');
    } else if (!at_line_start_) {
        out.append("\r\n");
    }
    out.append(".\r\n");
    after_cr_ = false;
    at_line_start_ = true;
}

std::string dot_stuff(std::string_view body) {
    std::string out;
    DotStuffer stuffer;
    stuffer.feed(body, out);
    stuffer.finish(out);
    return out;
}

// ---- outcomes ---------------------------------------------------------------------------

std::string_view stage_name(Stage stage) {
    switch (stage) {
        case Stage::connect:
            return "connect";
        case Stage::greeting:
            return "greeting";
        case Stage::ehlo:
            return "EHLO";
        case Stage::starttls:
            return "STARTTLS";
        case Stage::auth:
            return "AUTH";
        case Stage::mail:
            return "MAIL FROM";
        case Stage::rcpt:
            return "RCPT TO";
        case Stage::data:
            return "DATA";
        case Stage::data_end:
            return "end of data";
        case Stage::local:
            return "local";
    }
    return "unknown";
}

Outcome outcome_of(int reply_code) {
    if (reply_code >= 200 && reply_code < 300) return Outcome::delivered;
    return failure_outcome(reply_code);
}

MessageTraits message_traits(const smtp::Envelope& envelope, std::string_view body) {
    MessageTraits traits;
    traits.size = body.size();
    traits.eight_bit = envelope.body == smtp::BodyType::eight_bit_mime || has_non_ascii(body);
    bool non_ascii_address = has_non_ascii(envelope.sender);
    for (const auto& recipient : envelope.recipients)
        non_ascii_address = non_ascii_address || has_non_ascii(recipient.address);
    auto header_end = body.find("\r\n\r\n");
    const auto headers =
        body.substr(0, header_end == std::string_view::npos ? body.size() : header_end);
    traits.needs_smtputf8 = non_ascii_address || (envelope.smtputf8 && has_non_ascii(headers));
    return traits;
}

std::string encode_xtext(std::string_view text) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet >= 33 && octet <= 126 && c != '+' && c != '=') {
            out.push_back(c);
        } else {
            out.push_back('+');
            out.push_back(k_hex[octet >> 4]);
            out.push_back(k_hex[octet & 15]);
        }
    }
    return out;
}

ClientTransaction::ClientTransaction(const Capabilities& capabilities,
                                     const smtp::Envelope& envelope, const MessageTraits& traits)
    : capabilities_(capabilities),
      envelope_(envelope),
      traits_(traits),
      decided_(envelope.recipients.size(), false),
      accepted_(envelope.recipients.size(), false) {
    for (const auto& recipient : envelope.recipients)
        results_.push_back(
            RecipientResult{recipient.address, Outcome::temporary, Stage::local, {}, false});
    if (traits_.needs_smtputf8 && !capabilities_.smtputf8) {
        // RFC 6531 section 3.2: without SMTPUTF8 at the server the message cannot go.
        fail_pending(Stage::local, local_reply::smtputf8_unsupported(), false);
        refused_before_sending_ = true;
    } else if (capabilities_.max_size > 0 && traits_.size > capabilities_.max_size) {
        // RFC 1870 section 6: a client must not send a message larger than SIZE announced.
        fail_pending(Stage::local,
                     local_reply::message_too_big(traits_.size, capabilities_.max_size), false);
        refused_before_sending_ = true;
    }
    eight_bit_without_8bitmime_ = traits_.eight_bit && !capabilities_.eight_bit_mime;
}

std::string ClientTransaction::mail_command() const {
    std::string out = "MAIL FROM:<" + envelope_.sender + ">";
    if (capabilities_.size_announced) out += " SIZE=" + std::to_string(traits_.size);
    if (traits_.eight_bit && capabilities_.eight_bit_mime) out += " BODY=8BITMIME";
    if (capabilities_.smtputf8 && (traits_.needs_smtputf8 || envelope_.smtputf8))
        out += " SMTPUTF8";
    if (capabilities_.dsn) {
        if (envelope_.ret == smtp::DsnReturn::full) out += " RET=FULL";
        if (envelope_.ret == smtp::DsnReturn::headers) out += " RET=HDRS";
        if (!envelope_.envid.empty()) out += " ENVID=" + encode_xtext(envelope_.envid);
    }
    return out + "\r\n";
}

std::string ClientTransaction::rcpt_command(std::size_t index) const {
    const auto& recipient = envelope_.recipients.at(index);
    std::string out = "RCPT TO:<" + recipient.address + ">";
    if (capabilities_.dsn) {
        if (!recipient.notify.empty()) out += " NOTIFY=" + recipient.notify;
        if (!recipient.orcpt.empty()) out += " ORCPT=" + recipient.orcpt;
    }
    return out + "\r\n";
}

void ClientTransaction::on_mail_reply(const smtp::Reply& reply) {
    if (reply.code >= 200 && reply.code < 300) {
        mail_accepted_ = true;
        return;
    }
    // A refused MAIL decides every recipient (later pipelined RCPT replies are moot).
    for (std::size_t i = 0; i < results_.size(); ++i)
        if (!decided_[i])
            results_[i] = {results_[i].address, failure_outcome(reply.code), Stage::mail, reply,
                           true};
    std::fill(decided_.begin(), decided_.end(), true);
}

void ClientTransaction::on_rcpt_reply(std::size_t index, const smtp::Reply& reply) {
    if (!mail_accepted_ || index >= results_.size() || decided_[index]) return;
    if (reply.code >= 200 && reply.code < 300) {
        accepted_[index] = true;
        return;
    }
    // RFC 5321 section 4.5.3.1.10: 552 to RCPT means "too many recipients"; the rest go
    // in a later transaction, so it is temporary.
    const auto outcome = reply.code == 552 ? Outcome::temporary : failure_outcome(reply.code);
    results_[index] = {results_[index].address, outcome, Stage::rcpt, reply, true};
    decided_[index] = true;
}

std::size_t ClientTransaction::accepted_recipients() const {
    std::size_t count = 0;
    for (std::size_t i = 0; i < results_.size(); ++i)
        count += accepted_[i] && !decided_[i];
    return count;
}

void ClientTransaction::on_data_reply(const smtp::Reply& reply) {
    if (reply.code == 354) return;
    for (std::size_t i = 0; i < results_.size(); ++i) {
        if (decided_[i] || !accepted_[i]) continue;
        results_[i] = {results_[i].address, failure_outcome(reply.code), Stage::data, reply, true};
        decided_[i] = true;
    }
}

void ClientTransaction::on_final_reply(const smtp::Reply& reply) {
    for (std::size_t i = 0; i < results_.size(); ++i) {
        if (decided_[i] || !accepted_[i]) continue;
        results_[i] = {results_[i].address, outcome_of(reply.code), Stage::data_end, reply, true};
        decided_[i] = true;
    }
}

void ClientTransaction::on_connection_failed(Stage stage, const smtp::Reply& local) {
    for (std::size_t i = 0; i < results_.size(); ++i) {
        if (decided_[i]) continue;
        results_[i] = {results_[i].address, Outcome::temporary, stage, local, false};
        decided_[i] = true;
    }
}

void ClientTransaction::fail_pending(Stage stage, const smtp::Reply& reply, bool from_remote) {
    for (std::size_t i = 0; i < results_.size(); ++i) {
        if (decided_[i]) continue;
        results_[i] = {results_[i].address, failure_outcome(reply.code), stage, reply, from_remote};
        decided_[i] = true;
    }
}

namespace local_reply {

smtp::Reply smtputf8_unsupported() {
    return make(550, "5.6.7", "SMTPUTF8 is required, but was not offered by the remote server");
}

smtp::Reply message_too_big(std::uint64_t size, std::uint64_t limit) {
    return make(552, "5.3.4",
                "Message size " + std::to_string(size) + " exceeds the remote server's limit of " +
                    std::to_string(limit));
}

smtp::Reply connection_lost(Stage stage) {
    return make(451, "4.4.2", "Connection lost during " + std::string(stage_name(stage)));
}

smtp::Reply timed_out(Stage stage) {
    return make(451, "4.4.2",
                "Timed out waiting for the reply to " + std::string(stage_name(stage)));
}

smtp::Reply malformed_reply() {
    return make(451, "4.5.0", "Malformed reply from the remote server");
}

smtp::Reply connect_failed(std::string_view detail) {
    return make(451, "4.4.1", "Connection failed: " + std::string(detail));
}

smtp::Reply tls_failed(std::string_view detail) {
    return make(451, "4.7.5", "TLS handshake failed: " + std::string(detail));
}

smtp::Reply tls_not_offered() {
    return make(451, "4.7.4", "TLS is required, but was not offered by the remote server");
}

smtp::Reply auth_needs_tls() {
    return make(454, "4.7.0", "Refusing to send credentials without TLS");
}

smtp::Reply auth_needs_verified_tls() {
    return make(454, "4.7.0",
                "Refusing to send credentials over TLS whose certificate was not verified");
}

smtp::Reply auth_mechanism_unavailable() {
    return make(451, "4.7.12", "No common authentication mechanism (PLAIN or LOGIN) offered");
}

}  // namespace local_reply

}  // namespace smarthost::delivery
