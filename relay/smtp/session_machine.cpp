#include "relay/smtp/session_machine.hpp"

#include <charconv>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "relay/smtp/address.hpp"
#include "relay/smtp/command_parser.hpp"
#include "relay/smtp/sasl.hpp"

namespace smarthost::smtp {

namespace {

constexpr std::size_t k_max_envid_octets = 100;  // RFC 3461 section 4.4

Action reply_action(Reply reply) {
    return Action{Action::Kind::reply, std::move(reply), {}, {}, {}};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) return UINT64_MAX;  // larger than any limit
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 section 4.1).
std::optional<std::string> parse_notify(std::string_view text) {
    auto value = to_upper(text);
    if (value == "NEVER") return value;
    std::set<std::string_view> seen;
    std::string_view rest = value;
    for (;;) {
        auto comma = rest.find(',');
        auto item = rest.substr(0, comma);
        if (item != "SUCCESS" && item != "FAILURE" && item != "DELAY") return std::nullopt;
        if (!seen.insert(item).second) return std::nullopt;
        if (comma == std::string_view::npos) return value;
        rest = rest.substr(comma + 1);
    }
}

// ORCPT = addr-type ";" xtext (RFC 3461 section 4.2); kept as given.
bool is_orcpt(std::string_view text, bool utf8) {
    auto semicolon = text.find(';');
    if (semicolon == 0 || semicolon == std::string_view::npos) return false;
    for (char c : text.substr(0, semicolon)) {
        bool atext =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!atext) return false;
    }
    return decode_xtext(text.substr(semicolon + 1), utf8).has_value();
}

// Problems of the parameter list as a whole: ESMTP parameters exist only after EHLO
// (RFC 5321 section 4.1.1.11, 555), and none may repeat (501).
std::optional<Reply> parameter_list_problem(const std::vector<EsmtpParameter>& parameters,
                                            bool esmtp) {
    std::set<std::string_view> seen;
    for (const auto& parameter : parameters) {
        if (!esmtp) return reply::parameter_unrecognized(parameter.keyword);
        if (!seen.insert(parameter.keyword).second) {
            return reply::syntax_error("Duplicate parameter " + parameter.keyword);
        }
    }
    return std::nullopt;
}

// What is wrong with a path, for the 501 reply. The limits are RFC 5321 section 4.5.3.1's
// unless the listener raised them.
std::string mailbox_problem_text(MailboxError problem, const AddressLimits& limits) {
    switch (problem) {
        case MailboxError::path_too_long:
            return "address longer than " + std::to_string(limits.path_octets) +
                   " octets (RFC 5321 section 4.5.3.1.3)";
        case MailboxError::local_part_too_long:
            return "local part longer than " + std::to_string(limits.local_part_octets) +
                   " octets (RFC 5321 section 4.5.3.1.1)";
        case MailboxError::domain_too_long:
            return "domain longer than " + std::to_string(k_max_domain_octets) +
                   " octets (RFC 5321 section 4.5.3.1.2)";
        case MailboxError::no_domain:
            return "domain name required";
        case MailboxError::syntax:
        case MailboxError::none:
            break;
    }
    return "invalid address";
}

}  // namespace

SessionMachine::SessionMachine(SessionSettings settings)
    : settings_(std::move(settings)), tls_active_(settings_.tls_active) {}

Reply SessionMachine::greeting() const {
    return reply::greeting(settings_.hostname);
}

Action SessionMachine::on_line(std::string_view line) {
    switch (state_) {
        case State::auth_plain:
        case State::auth_login_username:
        case State::auth_login_password:
            return on_auth_response(line);
        case State::auth_pending:
        case State::sender_pending:
        case State::recipient_pending:
        case State::message_pending:
        case State::data:
        case State::enqueue_pending:
        case State::tls_pending:
            // The I/O layer reads no command while it works for us; answer defensively.
            return error(reply::bad_sequence("Command not expected now"));
        case State::closed:
            return Action{
                Action::Kind::close, reply::bad_sequence("Connection closing"), {}, {}, {}};
        default:
            return on_command(line);
    }
}

Action SessionMachine::on_command(std::string_view line) {
    const Command command = parse_command(line);
    switch (command.verb) {
        case Verb::helo:
            return on_helo(command.argument, false);
        case Verb::ehlo:
            return on_helo(command.argument, true);
        case Verb::starttls:
            return on_starttls(command.argument);
        case Verb::auth:
            return on_auth(command.argument);
        case Verb::mail:
            return on_mail(command.argument);
        case Verb::rcpt:
            return on_rcpt(command.argument);
        case Verb::data:
            return on_data(command.argument);
        case Verb::rset:
            if (junk_command()) return junk_limit_reached();
            if (!command.argument.empty()) return error(reply::syntax_error("Syntax: RSET"));
            reset_transaction();
            if (state_ != State::greeted) state_ = State::ready;
            return reply_action(reply::ok());
        case Verb::noop:
            if (junk_command()) return junk_limit_reached();
            return reply_action(reply::ok());  // RFC 5321 section 4.1.1.9: argument ignored
        case Verb::quit:
            return close(reply::bye());
        case Verb::help:
            if (junk_command()) return junk_limit_reached();
            return reply_action(reply::help());
        case Verb::vrfy:
            if (junk_command()) return junk_limit_reached();
            if (command.argument.empty()) return error(reply::syntax_error("Syntax: VRFY address"));
            // RFC 5321 section 3.5.3: 252 neither confirms nor denies; no address harvesting.
            return reply_action(reply::cannot_verify());
        case Verb::expn:  // RFC 5321 section 3.5.2: mailing lists are not ours to reveal
        case Verb::not_implemented:
            return error(reply::command_not_implemented());
        case Verb::http:
            return close(reply::protocol_mismatch(settings_.hostname));
        case Verb::unknown:
            break;
    }
    return error(reply::command_unrecognized());
}

Action SessionMachine::on_helo(std::string_view argument, bool esmtp) {
    if (argument.empty()) {
        return error(
            reply::syntax_error(esmtp ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
    }
    // RFC 5321 section 4.1.1.1: a domain or an address literal. Underscores are allowed
    // because Windows clients announce NetBIOS names with them.
    if (!is_domain(argument, true) && !is_address_literal(argument)) {
        return error(reply::syntax_error("Invalid EHLO/HELO hostname"));
    }
    helo_ = std::string(argument);
    esmtp_ = esmtp;
    reset_transaction();  // RFC 5321 section 4.1.4
    state_ = State::ready;
    if (!esmtp) return reply_action(reply::helo(settings_.hostname));

    std::vector<std::string> keywords{
        "PIPELINING",
        "SIZE " + std::to_string(settings_.max_message_bytes),
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
    };
    if (settings_.starttls_available && !tls_active_) keywords.emplace_back("STARTTLS");
    if (auth_offered()) keywords.emplace_back("AUTH PLAIN LOGIN");
    return reply_action(reply::ehlo(settings_.hostname, helo_, std::move(keywords)));
}

Action SessionMachine::on_starttls(std::string_view argument) {
    if (tls_active_) return error(reply::bad_sequence("TLS already active"));
    if (!settings_.starttls_available) return error(reply::command_not_implemented());
    if (!argument.empty()) return error(reply::syntax_error("Syntax: STARTTLS"));
    if (state_ == State::greeted) return error(reply::bad_sequence("Send EHLO first"));
    if (in_transaction()) {
        return error(reply::bad_sequence("STARTTLS not permitted during a mail transaction"));
    }
    state_ = State::tls_pending;
    return Action{Action::Kind::start_tls, reply::ready_to_start_tls(), {}, {}, {}};
}

void SessionMachine::on_tls_started() {
    // RFC 3207 section 4.2: forget everything learnt from the client before TLS.
    tls_active_ = true;
    esmtp_ = false;
    authenticated_ = false;
    helo_.clear();
    auth_username_.clear();
    pending_auth_ = {};
    reset_transaction();
    state_ = State::greeted;
}

bool SessionMachine::auth_offered() const {
    return tls_active_ || settings_.auth_allowed_without_tls;  // contract 3
}

Action SessionMachine::on_auth(std::string_view argument) {
    if (!esmtp_) return error(reply::bad_sequence("Send EHLO first"));
    if (authenticated_) return error(reply::bad_sequence("Already authenticated"));
    if (in_transaction()) {
        return error(reply::bad_sequence("AUTH not permitted during a mail transaction"));
    }
    auto space = argument.find(' ');
    auto mechanism = to_upper(argument.substr(0, space));
    std::optional<std::string_view> initial_response;
    if (space != std::string_view::npos) initial_response = argument.substr(space + 1);
    if (mechanism.empty() ||
        (initial_response &&
         (initial_response->empty() || initial_response->find(' ') != std::string_view::npos))) {
        return error(reply::syntax_error("Syntax: AUTH mechanism [initial-response]"));
    }
    if (mechanism != "PLAIN" && mechanism != "LOGIN") {
        return error(reply::auth_mechanism_unsupported());
    }
    // RFC 4954 section 4 (538): refuse before looking at any credential sent in clear.
    if (!auth_offered()) return error(reply::encryption_required());

    pending_auth_ = {};
    pending_auth_.mechanism = mechanism;
    if (mechanism == "PLAIN") {
        state_ = State::auth_plain;
        if (initial_response) return on_auth_response(*initial_response);
        return reply_action(reply::auth_challenge(""));
    }
    state_ = State::auth_login_username;
    if (initial_response) return on_auth_response(*initial_response);
    return reply_action(reply::auth_challenge(k_login_username_prompt));
}

Action SessionMachine::on_auth_response(std::string_view line) {
    const State step = state_;
    if (line == "*") {  // RFC 4954 section 4: the client cancels the exchange
        return abandon_auth(reply::auth_cancelled());
    }
    auto decoded = decode_base64(line);
    if (!decoded) {
        return abandon_auth(reply::auth_malformed("Invalid base64 data"));
    }
    if (step == State::auth_plain) {
        auto credentials = decode_plain(*decoded);
        if (!credentials) {
            return abandon_auth(reply::auth_malformed("Malformed PLAIN response"));
        }
        if (const auto defect = credential_defect(credentials->authcid, credentials->password);
            !defect.empty())
            return abandon_auth(reply::auth_malformed(defect));
        // Acting as another identity is never allowed: refused before any look-up, so it
        // says nothing about the password.
        if (!credentials->authzid.empty() && credentials->authzid != credentials->authcid) {
            state_ = State::ready;
            pending_auth_ = {};
            return auth_failed(reply::auth_identity_not_permitted());
        }
        pending_auth_.authzid = std::move(credentials->authzid);
        pending_auth_.username = std::move(credentials->authcid);
        pending_auth_.password = std::move(credentials->password);
        return start_authentication();
    }
    if (decoded->empty()) {
        return abandon_auth(reply::auth_malformed(
            step == State::auth_login_username ? "Empty LOGIN username" : "Empty LOGIN password"));
    }
    if (step == State::auth_login_username) {
        if (const auto defect = credential_defect(*decoded, {}); !defect.empty())
            return abandon_auth(reply::auth_malformed(defect));
        pending_auth_.username = std::move(*decoded);
        state_ = State::auth_login_password;
        return reply_action(reply::auth_challenge(k_login_password_prompt));
    }
    if (const auto defect = credential_defect({}, *decoded); !defect.empty())
        return abandon_auth(reply::auth_malformed(defect));
    pending_auth_.password = std::move(*decoded);
    return start_authentication();
}

Action SessionMachine::start_authentication() {
    state_ = State::auth_pending;
    Action action{Action::Kind::authenticate, Reply{}, pending_auth_, {}, {}};
    pending_auth_.password.clear();  // the machine keeps no secret once it is handed over
    return action;
}

Action SessionMachine::on_auth_result(AuthOutcome outcome) {
    if (state_ != State::auth_pending) {
        return reply_action(reply::bad_sequence("No authentication in progress"));
    }
    state_ = State::ready;
    auto username = std::move(pending_auth_.username);
    pending_auth_ = {};
    switch (outcome) {
        case AuthOutcome::success:
            authenticated_ = true;
            auth_username_ = std::move(username);
            return reply_action(reply::auth_succeeded());
        case AuthOutcome::temporary_failure:
            return reply_action(reply::auth_temporary_failure());
        case AuthOutcome::invalid_credentials:
            break;
    }
    return auth_failed(reply::auth_credentials_invalid());
}

Action SessionMachine::on_auth_refused(Reply reply) {
    if (state_ != State::auth_pending) {
        return reply_action(reply::bad_sequence("No authentication in progress"));
    }
    pending_auth_ = {};
    return close(std::move(reply));
}

Action SessionMachine::on_mail(std::string_view argument) {
    if (state_ == State::greeted) return error(reply::bad_sequence("Send EHLO/HELO first"));
    if (in_transaction()) return error(reply::bad_sequence("Nested MAIL command"));
    auto parsed = parse_path_argument(argument, "FROM:");
    if (!parsed) return error(reply::syntax_error("Syntax: MAIL FROM:<address> [parameters]"));

    if (auto problem = parameter_list_problem(parsed->parameters, esmtp_)) {
        return error(std::move(*problem));
    }
    Envelope envelope;
    for (const auto& parameter : parsed->parameters) {
        const auto& keyword = parameter.keyword;
        const std::string_view value = parameter.value.value_or("");
        const bool has_value = parameter.value.has_value();
        if (keyword == "SIZE") {  // RFC 1870
            auto size = has_value ? parse_size(value) : std::nullopt;
            if (!size) return error(reply::syntax_error("Bad SIZE parameter"));
            envelope.declared_size = *size;
        } else if (keyword == "BODY") {  // RFC 6152
            if (iequals(value, "7BIT")) {
                envelope.body = BodyType::seven_bit;
            } else if (iequals(value, "8BITMIME")) {
                envelope.body = BodyType::eight_bit_mime;
            } else {
                return error(reply::syntax_error("Bad BODY parameter"));
            }
        } else if (keyword == "SMTPUTF8") {  // RFC 6531 section 3.4
            if (has_value) return error(reply::syntax_error("SMTPUTF8 takes no value"));
            envelope.smtputf8 = true;
        } else if (keyword == "RET") {  // RFC 3461 section 4.3
            if (iequals(value, "FULL")) {
                envelope.ret = DsnReturn::full;
            } else if (iequals(value, "HDRS")) {
                envelope.ret = DsnReturn::headers;
            } else {
                return error(reply::syntax_error("Bad RET parameter"));
            }
        } else if (keyword == "ENVID") {  // RFC 3461 section 4.4
            auto envid = has_value && value.size() <= k_max_envid_octets ? decode_xtext(value)
                                                                         : std::nullopt;
            if (!envid) return error(reply::syntax_error("Bad ENVID parameter"));
            envelope.envid = std::move(*envid);
        } else if (keyword == "AUTH") {
            // RFC 4954 section 5: must be accepted; a client's claim about who submitted
            // the message is not trusted, so it is checked for syntax and dropped.
            if (!has_value || (value != "<>" && !decode_xtext(value))) {
                return error(reply::syntax_error("Bad AUTH parameter"));
            }
        } else {
            return error(reply::parameter_unrecognized(keyword));
        }
    }

    if (!parsed->path.empty()) {
        Mailbox mailbox;
        const auto problem =
            parse_mailbox(parsed->path, envelope.smtputf8, mailbox, settings_.address_limits);
        if (problem != MailboxError::none) {
            return error(
                reply::bad_sender_address(mailbox_problem_text(problem, settings_.address_limits)));
        }
        envelope.sender = mailbox.address();
    }
    // RFC 1870 section 6.2: a declared size over the limit is a permanent 552; it is the
    // client telling the truth, not an error to count.
    if (envelope.declared_size && *envelope.declared_size > settings_.max_message_bytes) {
        return reply_action(reply::message_too_big());
    }
    envelope_ = std::move(envelope);
    // An unidentified client is not asked about: it gets no recipient accepted (530).
    if (settings_.policy_checks && identified()) {
        return ask_policy(State::sender_pending, PolicyStage::sender, envelope_.sender);
    }
    return accept_sender();
}

Action SessionMachine::accept_sender() {
    state_ = State::mail;
    return reply_action(reply::sender_ok());
}

Action SessionMachine::on_rcpt(std::string_view argument) {
    if (!in_transaction()) return error(reply::bad_sequence("Need MAIL before RCPT"));
    // Contract 2, never an open relay: decided before the address is even parsed, so no
    // address form (percent hack, source route, quoted "@", bang path, literal) can
    // reach a 250 without authentication or an allow-listed network.
    if (!authenticated_ && !settings_.client_allowlisted) return error(reply::auth_required());

    auto parsed = parse_path_argument(argument, "TO:");
    if (!parsed) return error(reply::syntax_error("Syntax: RCPT TO:<address> [parameters]"));
    if (auto problem = parameter_list_problem(parsed->parameters, esmtp_)) {
        return error(std::move(*problem));
    }
    Recipient recipient;
    for (const auto& parameter : parsed->parameters) {
        const auto& keyword = parameter.keyword;
        const std::string_view value = parameter.value.value_or("");
        if (keyword == "NOTIFY") {  // RFC 3461 section 4.1
            auto notify = parse_notify(value);
            if (!notify) return error(reply::syntax_error("Bad NOTIFY parameter"));
            recipient.notify = std::move(*notify);
        } else if (keyword == "ORCPT") {  // RFC 3461 section 4.2
            if (!is_orcpt(value, envelope_.smtputf8)) {
                return error(reply::syntax_error("Bad ORCPT parameter"));
            }
            recipient.orcpt = std::string(value);
        } else {
            return error(reply::parameter_unrecognized(keyword));
        }
    }

    if (parsed->path.empty()) return error(reply::bad_recipient_address("empty address"));
    Mailbox mailbox;
    const auto problem =
        parse_mailbox(parsed->path, envelope_.smtputf8, mailbox, settings_.address_limits);
    // RFC 5321 section 4.5.1 has every server accept <postmaster>, but this relay
    // delivers only to remote domains and has no local mailbox to put it in.
    if (problem == MailboxError::no_domain && iequals(mailbox.local_part, "postmaster")) {
        return error(reply::no_local_mailboxes());
    }
    if (problem != MailboxError::none) {
        return error(
            reply::bad_recipient_address(mailbox_problem_text(problem, settings_.address_limits)));
    }
    // RFC 5321 section 4.5.3.1.8: 452 and the client sends the rest in another message.
    if (envelope_.recipients.size() + envelope_.bounced.size() >= settings_.max_recipients) {
        return reply_action(reply::too_many_recipients());
    }
    recipient.address = mailbox.address();
    recipient.domain = to_lower(mailbox.domain);
    pending_recipient_ = std::move(recipient);
    if (settings_.policy_checks) {
        return ask_policy(State::recipient_pending, PolicyStage::recipient,
                          pending_recipient_.address);
    }
    return accept_recipient();
}

Action SessionMachine::accept_recipient() {
    envelope_.recipients.push_back(std::move(pending_recipient_));
    pending_recipient_ = {};
    state_ = State::rcpt;
    return reply_action(reply::recipient_ok());
}

Action SessionMachine::ask_policy(State waiting, PolicyStage stage, std::string address) {
    state_ = waiting;
    Action action{Action::Kind::check_policy, Reply{}, {}, {}, {}};
    action.policy.stage = stage;
    action.policy.address = std::move(address);
    action.policy.recipients = envelope_.recipients.size();
    action.policy.declared_size = envelope_.declared_size;
    return action;
}

Action SessionMachine::on_policy_verdict(const PolicyVerdict& verdict) {
    // A refusal is the account's policy speaking, not a client's protocol error: it is
    // not counted towards max_errors, like 552 for an honest SIZE.
    switch (state_) {
        case State::sender_pending:
            if (!verdict.refused()) return accept_sender();
            reset_transaction();
            state_ = State::ready;
            return reply_action(*verdict.refusal);
        case State::recipient_pending:
            if (verdict.refused()) {
                pending_recipient_ = {};
                const bool none = envelope_.recipients.empty() && envelope_.bounced.empty();
                state_ = none ? State::mail : State::rcpt;
                return reply_action(*verdict.refusal);
            }
            if (verdict.bounce) {
                // The client sees an accepted recipient and may send DATA even if no
                // recipient is left to deliver to: the message is stored for the report.
                auto reply_text = verdict.bounce->wire();
                while (!reply_text.empty() &&
                       (reply_text.back() == '\n' || reply_text.back() == '\r'))
                    reply_text.pop_back();
                envelope_.bounced.push_back({std::move(pending_recipient_), std::move(reply_text)});
                pending_recipient_ = {};
                state_ = State::rcpt;
                return reply_action(reply::recipient_ok());
            }
            return accept_recipient();
        case State::message_pending:
            if (!verdict.refused()) {
                state_ = State::enqueue_pending;
                return Action{Action::Kind::enqueue, Reply{}, {}, {}, {}};
            }
            reset_transaction();
            state_ = State::ready;
            return reply_action(*verdict.refusal);
        default:
            break;
    }
    return reply_action(reply::bad_sequence("No policy check in progress"));
}

Action SessionMachine::on_data(std::string_view argument) {
    if (state_ == State::mail) return error(reply::bad_sequence("No valid recipients"));
    if (state_ != State::rcpt) return error(reply::bad_sequence("Need MAIL and RCPT before DATA"));
    if (!argument.empty()) return error(reply::syntax_error("Syntax: DATA"));
    state_ = State::data;
    return Action{Action::Kind::receive_data, reply::start_data(), {}, {}, {}};
}

Action SessionMachine::on_data_end(DataResult result) {
    if (state_ != State::data) return reply_action(reply::bad_sequence("No data in progress"));
    if (result == DataResult::ok && settings_.policy_checks && identified()) {
        return ask_policy(State::message_pending, PolicyStage::message, {});
    }
    if (result == DataResult::ok) {
        state_ = State::enqueue_pending;
        return Action{Action::Kind::enqueue, Reply{}, {}, {}, {}};
    }
    reset_transaction();
    state_ = State::ready;
    switch (result) {
        case DataResult::bare_lf:
            return reply_action(reply::bare_lf_in_data());
        case DataResult::bare_cr:
            return reply_action(reply::bare_cr_in_data());
        case DataResult::nul:
            return reply_action(reply::nul_in_data());
        case DataResult::line_too_long:
            return reply_action(reply::line_too_long_in_data());
        case DataResult::no_storage:
            return reply_action(reply::insufficient_storage());
        case DataResult::too_big:
        case DataResult::ok:
            break;
    }
    return reply_action(reply::message_too_big());
}

Action SessionMachine::on_enqueued(std::string_view queue_id) {
    if (state_ != State::enqueue_pending) {
        return reply_action(reply::bad_sequence("No message waiting to be queued"));
    }
    reset_transaction();
    state_ = State::ready;
    if (queue_id.empty()) return reply_action(reply::not_queued());
    junk_commands_ = 0;  // a client that sends mail is not idling
    return reply_action(reply::queued(queue_id));
}

Action SessionMachine::on_line_too_long() {
    return on_unreadable_line(reply::line_too_long());
}

Action SessionMachine::on_bare_lf() {
    return on_unreadable_line(reply::bare_lf_in_command());
}

Action SessionMachine::on_unreadable_line(Reply reply) {
    // A broken line in the middle of an AUTH exchange ends the exchange.
    if (state_ == State::auth_plain || state_ == State::auth_login_username ||
        state_ == State::auth_login_password) {
        return abandon_auth(std::move(reply));
    }
    return error(std::move(reply));
}

Action SessionMachine::abandon_auth(Reply reply) {
    state_ = State::ready;
    pending_auth_ = {};
    return error(std::move(reply));
}

bool SessionMachine::pipelining_forbidden(std::string_view line, bool more_input_follows) const {
    if (!more_input_follows || identified()) return false;
    if (state_ != State::greeted && state_ != State::ready) return false;
    const auto verb = parse_command(line).verb;
    return verb == Verb::ehlo || verb == Verb::helo;
}

Action SessionMachine::on_timeout() {
    return close(reply::timeout(settings_.hostname));
}
Action SessionMachine::on_shutdown() {
    return close(reply::shutting_down(settings_.hostname));
}

std::string SessionMachine::protocol_name() const {
    if (!esmtp_) return "SMTP";
    // RFC 3848, and RFC 6531 section 3.7.3 for transactions that used SMTPUTF8.
    std::string name = envelope_.smtputf8 ? "UTF8SMTP" : "ESMTP";
    if (tls_active_) name += 'S';
    if (authenticated_) name += 'A';
    return name;
}

Action SessionMachine::auth_failed(Reply reply) {
    ++auth_failures_;
    if (settings_.max_auth_failures > 0 && auth_failures_ >= settings_.max_auth_failures) {
        auto closing = close(reply::too_many_auth_failures(settings_.hostname));
        closing.cap_reached = "auth_failures";
        return closing;
    }
    return error(std::move(reply));
}

Action SessionMachine::junk_limit_reached() {
    auto closing = close(reply::too_many_junk_commands(settings_.hostname));
    closing.cap_reached = "junk_commands";
    return closing;
}

bool SessionMachine::junk_command() {
    ++junk_commands_;
    return settings_.max_junk_commands > 0 && junk_commands_ > settings_.max_junk_commands;
}

Action SessionMachine::error(Reply reply) {
    ++errors_;
    if (errors_ > settings_.max_errors) return close(reply::too_many_errors(settings_.hostname));
    return reply_action(std::move(reply));
}

Action SessionMachine::close(Reply reply) {
    state_ = State::closed;
    return Action{Action::Kind::close, std::move(reply), {}, {}, {}};
}

void SessionMachine::reset_transaction() {
    envelope_ = Envelope{};
    pending_recipient_ = {};
}

}  // namespace smarthost::smtp
