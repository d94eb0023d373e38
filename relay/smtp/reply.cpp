#include "relay/smtp/reply.hpp"

#include <string>
#include <utility>

namespace smarthost::smtp {

namespace {

// Reply text is ours, but some of it echoes client input (EHLO name, parameter keyword):
// a CR or LF in it would split the reply, so they never reach the wire.
void append_line_text(std::string& wire, std::string_view text) {
    for (char c : text)
        wire.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

Reply make(int code, std::string_view enhanced, std::string text) {
    return Reply{code, std::string(enhanced), {std::move(text)}};
}

std::string concat(std::string_view a, std::string_view b) {
    std::string out(a);
    out.append(b);
    return out;
}

}  // namespace

std::string Reply::wire() const {
    static const std::vector<std::string> k_one_empty_line{std::string()};
    const auto& text_lines = lines.empty() ? k_one_empty_line : lines;
    const std::string code_text = std::to_string(code);
    std::string out;
    for (std::size_t i = 0; i < text_lines.size(); ++i) {
        out += code_text;
        out += i + 1 == text_lines.size() ? ' ' : '-';
        if (!enhanced.empty()) {
            out += enhanced;
            if (!text_lines[i].empty()) out += ' ';
        }
        append_line_text(out, text_lines[i]);
        out += "\r\n";
    }
    return out;
}

std::string Reply::summary() const {
    std::string out = code == 0 ? std::string() : std::to_string(code);
    if (!enhanced.empty()) out += out.empty() ? enhanced : " " + enhanced;
    bool first = true;
    for (const auto& line : lines) {
        if (line.empty()) continue;
        if (!out.empty()) out += first ? " " : "; ";
        out += line;
        first = false;
    }
    return out;
}

std::string Reply::status() const {
    if (!enhanced.empty()) return enhanced;
    if (code >= 200 && code < 300) return "2.0.0";
    if (code >= 400 && code < 500) return "4.0.0";
    if (code >= 500 && code < 600) return "5.0.0";
    return {};
}

namespace reply {

Reply greeting(std::string_view hostname) {
    return make(220, "", concat(hostname, " ESMTP smarthost"));
}

Reply ehlo(std::string_view hostname, std::string_view helo, std::vector<std::string> keywords) {
    Reply r{250, "", {}};
    r.lines.push_back(concat(concat(hostname, " Hello "), helo));
    for (auto& keyword : keywords)
        r.lines.push_back(std::move(keyword));
    return r;
}

Reply helo(std::string_view hostname) {
    return make(250, "", std::string(hostname));
}
Reply ok() {
    return make(250, "2.0.0", "Ok");
}
Reply bye() {
    return make(221, "2.0.0", "Bye");
}
Reply help() {
    return make(214, "2.0.0",
                "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT HELP VRFY "
                "(RFC 5321)");
}
Reply cannot_verify() {
    return make(252, "2.5.0", "Cannot VRFY addresses; send mail to find out");
}
Reply too_many_errors(std::string_view hostname) {
    return make(421, "4.7.0", concat(hostname, " Too many errors, closing connection"));
}
Reply unauth_pipelining(std::string_view hostname) {
    return make(554, "5.5.0",
                concat(hostname, " Commands sent before the server's reply, closing connection"));
}
Reply timeout(std::string_view hostname) {
    return make(421, "4.4.2", concat(hostname, " Timeout, closing connection"));
}
Reply data_too_slow(std::string_view hostname) {
    return make(421, "4.4.2", concat(hostname, " Data arriving too slowly, closing connection"));
}
Reply session_too_long(std::string_view hostname) {
    return make(421, "4.4.2", concat(hostname, " Session too long, closing connection"));
}
Reply too_many_junk_commands(std::string_view hostname) {
    return make(421, "4.4.2",
                concat(hostname, " Too many commands without a message, closing connection"));
}
Reply too_many_auth_failures(std::string_view hostname) {
    return make(421, "4.7.0",
                concat(hostname, " Too many failed authentication attempts, closing connection"));
}
Reply shutting_down(std::string_view hostname) {
    return make(421, "4.3.2", concat(hostname, " Service shutting down"));
}
Reply temporarily_unavailable(std::string_view hostname) {
    return make(421, "4.3.0",
                concat(hostname, " Service temporarily unavailable, try again later"));
}
Reply too_many_connections(std::string_view hostname) {
    return make(421, "4.7.0", concat(hostname, " Too many connections, try again later"));
}
Reply account_connection_limit(std::string_view hostname, std::uint64_t limit) {
    return make(421, "4.7.0",
                concat(hostname, " too many connections for this account (limit " +
                                     std::to_string(limit) + ")"));
}
Reply protocol_mismatch(std::string_view hostname) {
    return make(421, "4.7.0", concat(hostname, " This is an SMTP server, closing connection"));
}

Reply command_unrecognized() {
    return make(500, "5.5.2", "Command unrecognized");
}
Reply line_too_long() {
    return make(500, "5.5.2", "Line too long");
}
Reply bare_lf_in_command() {
    return make(500, "5.5.2", "Command lines must end with CRLF");
}
Reply command_not_implemented() {
    return make(502, "5.5.1", "Command not implemented");
}
Reply syntax_error(std::string_view text) {
    return make(501, "5.5.4", std::string(text));
}
Reply bad_sequence(std::string_view text) {
    return make(503, "5.5.1", std::string(text));
}

Reply ready_to_start_tls() {
    return make(220, "2.0.0", "Ready to start TLS");
}

Reply auth_challenge(std::string_view base64_text) {
    return make(334, "", std::string(base64_text));
}
Reply auth_succeeded() {
    return make(235, "2.7.0", "Authentication successful");
}
Reply auth_credentials_invalid() {
    return make(535, "5.7.8", "Authentication credentials invalid");
}
Reply auth_identity_not_permitted() {
    // RFC 4616 section 2: the server fails when the client may not act as the authzid.
    return make(535, "5.7.8", "Authorization identity must be empty or the username");
}
Reply auth_temporary_failure() {
    return make(454, "4.7.0", "Temporary authentication failure");
}
Reply auth_cancelled() {
    return make(501, "5.0.0", "Authentication cancelled");
}
Reply auth_malformed(std::string_view text) {
    return make(501, "5.5.2", std::string(text));
}
Reply auth_mechanism_unsupported() {
    return make(504, "5.5.4", "Unrecognized authentication mechanism");
}
Reply encryption_required() {
    return make(538, "5.7.11", "Encryption required for requested authentication mechanism");
}
Reply auth_required() {
    return make(530, "5.7.0", "Authentication required");
}

Reply sender_ok() {
    return make(250, "2.1.0", "Sender ok");
}
Reply recipient_ok() {
    return make(250, "2.1.5", "Recipient ok");
}
Reply bad_sender_address(std::string_view text) {
    return make(501, "5.1.7", concat("Bad sender address syntax: ", text));
}
Reply bad_recipient_address(std::string_view text) {
    return make(501, "5.1.3", concat("Bad recipient address syntax: ", text));
}
Reply no_local_mailboxes() {
    return make(550, "5.1.1", "No local mailboxes on this relay; give a fully qualified address");
}
Reply parameter_unrecognized(std::string_view keyword) {
    return make(555, "5.5.4", concat("Unsupported parameter ", keyword));
}
Reply message_too_big() {
    return make(552, "5.3.4", "Message size exceeds fixed maximum message size");
}
Reply too_many_recipients() {
    return make(452, "4.5.3", "Too many recipients");
}

Reply start_data() {
    return make(354, "", "End data with <CR><LF>.<CR><LF>");
}
Reply bare_lf_in_data() {
    return make(554, "5.6.0", "Message rejected: bare LF in data (RFC 5321 section 2.3.8)");
}
Reply bare_cr_in_data() {
    return make(554, "5.6.0", "Message rejected: bare CR in data (RFC 5321 section 2.3.8)");
}
Reply nul_in_data() {
    return make(554, "5.6.0", "Message rejected: NUL octet in data");
}
Reply line_too_long_in_data() {
    return make(554, "5.6.0", "Message rejected: line too long (RFC 5321 section 4.5.3.1.6)");
}
Reply queued(std::string_view queue_id) {
    return make(250, "2.0.0", concat("Ok: queued as ", queue_id));
}
Reply not_queued() {
    return make(451, "4.3.0", "Temporary failure: message not queued, try again later");
}
Reply not_signed() {
    return make(451, "4.3.0",
                "Temporary failure: the message could not be DKIM-signed, try again later");
}

Reply content_rejected() {
    return make(550, "5.7.1",
                "Message rejected: its content was classified as spam by the relay's content "
                "scan");
}

Reply insufficient_storage() {
    return make(452, "4.3.1", "Insufficient system storage: message not accepted, try again later");
}

Reply rate_limited(std::string_view limit, std::uint64_t value, std::string_view resets_at) {
    return make(451, "4.7.1",
                "Account limit " + std::string(limit) + " (" + std::to_string(value) +
                    ") reached, try again after " + std::string(resets_at));
}

Reply scoped_rate_limited(std::string_view whose, std::string_view limit, std::uint64_t value,
                          std::string_view resets_at) {
    return make(451, "4.7.1",
                std::string(whose) + " limit " + std::string(limit) + " (" + std::to_string(value) +
                    ") reached, try again after " + std::string(resets_at));
}

Reply too_many_sub_users(std::string_view account, std::uint64_t max, std::string_view limit,
                         std::string_view resets_at) {
    return make(451, "4.7.1",
                "Account " + std::string(account) + " has " + std::to_string(max) +
                    " sub-users under limit " + std::string(limit) +
                    " already (max_sub_users), try again after " + std::string(resets_at));
}

Reply bad_sub_user_header(std::string_view header, std::string_view problem) {
    return make(554, "5.6.0", std::string(header) + " header " + std::string(problem));
}

Reply held_mail_full() {
    return make(452, "4.3.1", "Too much of this sender's mail is waiting, try again later");
}

Reply policy_unavailable() {
    return make(451, "4.3.0",
                "Temporary local problem checking the account's policy, try again later");
}
Reply account_suspended(std::string_view account, std::string_view reason) {
    std::string text = concat(concat("Account ", account), " is suspended");
    if (!reason.empty()) text = concat(concat(text, ": "), reason);
    return make(550, "5.7.1", std::move(text));
}
Reply account_unknown() {
    return make(550, "5.7.1", "The account of this session no longer exists");
}
Reply null_sender_not_permitted(std::string_view account) {
    return make(553, "5.7.1",
                concat(concat("Account ", account), " may not send with the null sender <>"));
}
Reply no_sender_domains(std::string_view account) {
    return make(553, "5.7.1",
                concat(concat("Account ", account), " has no verified sender domain"));
}
Reply sender_domain_not_permitted(std::string_view domain, std::string_view account) {
    return make(553, "5.7.1",
                "Sender domain " + std::string(domain) +
                    " is not a verified sender domain of account " + std::string(account));
}
Reply recipient_suppressed(std::string_view address, std::string_view why) {
    return make(550, "5.1.1",
                "Recipient <" + std::string(address) + "> is suppressed for this account (" +
                    std::string(why) + ")");
}
Reply header_author_not_permitted(std::string_view field, std::string_view domain,
                                  std::string_view account) {
    return make(550, "5.7.1",
                "Message rejected: " + std::string(field) + ": header domain " +
                    std::string(domain) + " is not a verified sender domain of account " +
                    std::string(account));
}
Reply author_field_too_long(std::string_view field, std::size_t limit) {
    return make(550, "5.7.1",
                "Message rejected: " + std::string(field) + ": header field longer than " +
                    std::to_string(limit) +
                    " octets; it cannot be checked against the account's sender domains");
}
Reply mail_loop(std::size_t received, std::size_t limit) {
    return make(554, "5.4.6",
                "Message rejected: too many Received: header fields (" + std::to_string(received) +
                    ", at most " + std::to_string(limit) + "): mail loop?");
}
Reply header_fields_invalid(std::string_view problem) {
    return make(550, "5.6.0",
                concat(concat("Message rejected: ", problem), " (RFC 5322 section 3.6)"));
}

Reply client_listed(int code, std::string_view enhanced, std::string_view ip, std::string_view zone,
                    std::string_view url) {
    std::string text = concat(concat(concat("Client address ", ip), " is listed in "), zone);
    if (!url.empty()) text = concat(concat(text, ": see "), url);
    return make(code, enhanced, std::move(text));
}
Reply sender_domain_listed(int code, std::string_view enhanced, std::string_view domain,
                           std::string_view zone, std::string_view url) {
    std::string text = concat(concat(concat("Sender domain ", domain), " is listed in "), zone);
    if (!url.empty()) text = concat(concat(text, ": see "), url);
    return make(code, enhanced, std::move(text));
}
Reply no_service(std::string_view ip) {
    // RFC 5321 section 3.1: after a 554 greeting, every command but QUIT gets 503.
    return make(503, "5.7.1", concat(concat("No SMTP service for ", ip), " here; send QUIT"));
}
Reply client_locked_out(std::string_view hostname, std::string_view ip) {
    return make(
        421, "4.7.0",
        concat(concat(concat(hostname, " Too many failed logins from "), ip), ", try again later"));
}
Reply credential_revoked(std::string_view hostname) {
    return make(
        421, "4.7.0",
        concat(hostname, " Credential disabled or changed since login, closing connection"));
}
Reply username_locked_out() {
    return make(454, "4.7.0", "Too many failed logins for this username, try again later");
}

}  // namespace reply
}  // namespace smarthost::smtp
