#include "relay/delivery/server_reply.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "core/ascii.hpp"

namespace smarthost::delivery {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
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

// ---- EHLO -------------------------------------------------------------------------------

bool Capabilities::offers_auth(std::string_view mechanism) const {
    return std::find(auth_mechanisms.begin(), auth_mechanisms.end(), to_upper(mechanism)) !=
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
                if (!word.empty()) words.push_back(to_upper(word));
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

}  // namespace smarthost::delivery
