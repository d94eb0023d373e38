#pragma once
// Splits a command line into its verb and arguments (RFC 5321 section 4.1), and the
// arguments of MAIL and RCPT into a path and ESMTP parameters (RFC 5321 section 4.1.2).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ascii.hpp"

namespace smarthost::smtp {

enum class Verb {
    helo,
    ehlo,
    mail,
    rcpt,
    data,
    rset,
    noop,
    quit,
    vrfy,
    expn,
    help,
    starttls,
    auth,
    not_implemented,  // known SMTP verbs this server does not offer: BDAT, TURN, ETRN, ...
    http,             // GET, POST, CONNECT...: a browser or proxy talking to the SMTP port
    unknown,
};

struct Command {
    Verb verb = Verb::unknown;
    std::string_view argument;  // after the verb and its spaces; trailing blanks removed
};

// The verb is case-insensitive (RFC 5321 section 2.4). The result views into `line`.
Command parse_command(std::string_view line);

struct EsmtpParameter {
    std::string keyword;                    // upper-cased
    std::optional<std::string_view> value;  // after "=", absent for "SMTPUTF8"
};

struct PathArgument {
    std::string_view path;  // between the angle brackets, may be empty ("<>")
    std::vector<EsmtpParameter> parameters;
};

// Parses "FROM:<path> params" (prefix "FROM:") or "TO:<path> params" (prefix "TO:").
// The prefix is case-insensitive; spaces after the colon are tolerated, as Postfix does,
// because deployed clients send "MAIL FROM: <a@b>". nullopt on a syntax error.
std::optional<PathArgument> parse_path_argument(std::string_view argument, std::string_view prefix);

// xtext (RFC 3461 section 4): "+XX" hex escapes, other octets 33..126 except "+" and "=".
// `utf8` admits non-ASCII octets (RFC 6533 utf-8-addr-xtext). nullopt when malformed.
std::optional<std::string> decode_xtext(std::string_view text, bool utf8 = false);

// The relay/smtp callers' names for the one ASCII case folding (core/ascii.hpp).
using smarthost::iequals;
using smarthost::to_lower;
using smarthost::to_upper;

}  // namespace smarthost::smtp
