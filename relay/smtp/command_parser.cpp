#include "relay/smtp/command_parser.hpp"

#include <array>
#include <utility>

namespace smarthost::smtp {

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim_trailing_blanks(std::string_view text) {
    while (!text.empty() && is_blank(text.back()))
        text.remove_suffix(1);
    return text;
}

constexpr std::array<std::pair<std::string_view, Verb>, 30> k_verbs{{
    {"HELO", Verb::helo},
    {"EHLO", Verb::ehlo},
    {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},
    {"RSET", Verb::rset},
    {"NOOP", Verb::noop},
    {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},
    {"EXPN", Verb::expn},
    {"HELP", Verb::help},
    {"STARTTLS", Verb::starttls},
    {"AUTH", Verb::auth},
    {"BDAT", Verb::not_implemented},  // RFC 3030 CHUNKING, not advertised
    {"BURL", Verb::not_implemented},
    {"TURN", Verb::not_implemented},
    {"ETRN", Verb::not_implemented},
    {"ATRN", Verb::not_implemented},
    {"SEND", Verb::not_implemented},
    {"SOML", Verb::not_implemented},
    {"SAML", Verb::not_implemented},
    {"XCLIENT", Verb::not_implemented},
    {"XFORWARD", Verb::not_implemented},
    // Cross-protocol requests: an HTTP client made to talk to port 25 (Postfix's
    // smtpd_forbidden_commands); the connection is dropped rather than answered.
    {"GET", Verb::http},
    {"HEAD", Verb::http},
    {"POST", Verb::http},
    {"PUT", Verb::http},
    {"DELETE", Verb::http},
    {"OPTIONS", Verb::http},
    {"CONNECT", Verb::http},
}};

bool is_esmtp_keyword(std::string_view text) {
    if (text.empty()) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || c != '-')) return false;
    }
    return true;
}

// esmtp-value = 1*(%d33-60 / %d62-126), and UTF-8 under RFC 6531; the session checks
// each value against its parameter's own grammar.
bool is_esmtp_value(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 33 || u == '=' || u == 127) return false;
    }
    return true;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // RFC 3461: hexchar is upper-case only
}

}  // namespace

Command parse_command(std::string_view line) {
    line = trim_trailing_blanks(line);
    auto space = line.find(' ');
    auto verb_text = line.substr(0, space);
    std::string_view argument;
    if (space != std::string_view::npos) {
        argument = line.substr(space);
        while (!argument.empty() && argument.front() == ' ')
            argument.remove_prefix(1);
    }
    for (const auto& [name, verb] : k_verbs) {
        if (iequals(verb_text, name)) return Command{verb, argument};
    }
    return Command{Verb::unknown, argument};
}

std::optional<PathArgument> parse_path_argument(std::string_view argument,
                                                std::string_view prefix) {
    if (argument.size() < prefix.size() || !iequals(argument.substr(0, prefix.size()), prefix)) {
        return std::nullopt;
    }
    argument.remove_prefix(prefix.size());
    while (!argument.empty() && argument.front() == ' ')
        argument.remove_prefix(1);
    if (argument.empty() || argument.front() != '<') return std::nullopt;

    // The closing ">" is the first one outside a quoted local part.
    std::size_t close = std::string_view::npos;
    bool quoted = false;
    for (std::size_t i = 1; i < argument.size(); ++i) {
        char c = argument[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '>') {
            close = i;
            break;
        }
    }
    if (close == std::string_view::npos) return std::nullopt;

    PathArgument result;
    result.path = argument.substr(1, close - 1);
    auto rest = argument.substr(close + 1);
    if (!rest.empty() && rest.front() != ' ') return std::nullopt;
    while (!rest.empty()) {
        while (!rest.empty() && rest.front() == ' ')
            rest.remove_prefix(1);
        if (rest.empty()) break;
        auto end = rest.find(' ');
        auto token = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
        auto equals = token.find('=');
        auto keyword = token.substr(0, equals);
        if (!is_esmtp_keyword(keyword)) return std::nullopt;
        EsmtpParameter parameter{to_upper(keyword), std::nullopt};
        if (equals != std::string_view::npos) {
            auto value = token.substr(equals + 1);
            if (!is_esmtp_value(value)) return std::nullopt;
            parameter.value = value;
        }
        result.parameters.push_back(std::move(parameter));
    }
    return result;
}

std::optional<std::string> decode_xtext(std::string_view text, bool utf8) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c == '+') {
            if (i + 2 >= text.size()) return std::nullopt;
            int high = hex_value(text[i + 1]);
            int low = hex_value(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else if ((c >= 33 && c <= 126 && c != '=') || (utf8 && c >= 0x80)) {
            out.push_back(static_cast<char>(c));
        } else {
            return std::nullopt;
        }
    }
    return out;
}

}  // namespace smarthost::smtp
