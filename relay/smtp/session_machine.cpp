#include "relay/smtp/session_machine.hpp"

#include <utility>
#include <vector>

#include "relay/smtp/address.hpp"
#include "relay/smtp/command_parser.hpp"

// The session's states and its commands outside a transaction's envelope and AUTH:
// greeting, EHLO/HELO, STARTTLS, DATA and its end, the caps, the refusal mode.
// session_envelope.cpp has MAIL and RCPT, session_auth.cpp the AUTH exchange.

namespace smarthost::smtp {

SessionMachine::SessionMachine(SessionSettings settings)
    : settings_(std::move(settings)), tls_active_(settings_.tls_active) {}

Reply SessionMachine::greeting() const {
    return reply::greeting(settings_.hostname);
}

Reply SessionMachine::refuse_service(Reply greeting, Reply each_command) {
    state_ = State::refused;
    refusal_ = std::move(each_command);
    return greeting;
}

Action SessionMachine::on_refused_line(std::string_view line) {
    if (iequals(line, "QUIT")) return close(reply::bye());
    if (++errors_ >= settings_.max_errors) return close(reply::too_many_errors(settings_.hostname));
    return Action::send(refusal_);
}

Action SessionMachine::on_line(std::string_view line) {
    switch (state_) {
        case State::refused:
            return on_refused_line(line);
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
            return Action::send(reply::ok());
        case Verb::noop:
            if (junk_command()) return junk_limit_reached();
            return Action::send(reply::ok());  // RFC 5321 section 4.1.1.9: argument ignored
        case Verb::quit:
            return close(reply::bye());
        case Verb::help:
            if (junk_command()) return junk_limit_reached();
            return Action::send(reply::help());
        case Verb::vrfy:
            if (junk_command()) return junk_limit_reached();
            if (command.argument.empty()) return error(reply::syntax_error("Syntax: VRFY address"));
            // RFC 5321 section 3.5.3: 252 neither confirms nor denies; no address harvesting.
            return Action::send(reply::cannot_verify());
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
    if (!esmtp) return Action::send(reply::helo(settings_.hostname));

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
    return Action::send(reply::ehlo(settings_.hostname, helo_, std::move(keywords)));
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

Action SessionMachine::on_data(std::string_view argument) {
    if (state_ == State::mail) return error(reply::bad_sequence("No valid recipients"));
    if (state_ != State::rcpt) return error(reply::bad_sequence("Need MAIL and RCPT before DATA"));
    if (!argument.empty()) return error(reply::syntax_error("Syntax: DATA"));
    state_ = State::data;
    return Action{Action::Kind::receive_data, reply::start_data(), {}, {}, {}};
}

Action SessionMachine::on_data_end(DataResult result) {
    if (state_ != State::data) return Action::send(reply::bad_sequence("No data in progress"));
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
            return Action::send(reply::bare_lf_in_data());
        case DataResult::bare_cr:
            return Action::send(reply::bare_cr_in_data());
        case DataResult::nul:
            return Action::send(reply::nul_in_data());
        case DataResult::line_too_long:
            return Action::send(reply::line_too_long_in_data());
        case DataResult::no_storage:
            return Action::send(reply::insufficient_storage());
        case DataResult::too_big:
        case DataResult::ok:
            break;
    }
    return Action::send(reply::message_too_big());
}

Action SessionMachine::on_enqueued(std::string_view queue_id) {
    if (state_ != State::enqueue_pending) {
        return Action::send(reply::bad_sequence("No message waiting to be queued"));
    }
    reset_transaction();
    state_ = State::ready;
    if (queue_id.empty()) return Action::send(reply::not_queued());
    junk_commands_ = 0;  // a client that sends mail is not idling
    return Action::send(reply::queued(queue_id));
}

Action SessionMachine::on_not_queued(Reply reply) {
    if (state_ != State::enqueue_pending) {
        return Action::send(reply::bad_sequence("No message waiting to be queued"));
    }
    reset_transaction();
    state_ = State::ready;
    return Action::send(std::move(reply));
}

Action SessionMachine::on_line_too_long() {
    return on_unreadable_line(reply::line_too_long());
}

Action SessionMachine::on_bare_lf() {
    return on_unreadable_line(reply::bare_lf_in_command());
}

Action SessionMachine::on_unreadable_line(Reply reply) {
    if (state_ == State::refused) return on_refused_line({});
    // A broken line in the middle of an AUTH exchange ends the exchange.
    if (state_ == State::auth_plain || state_ == State::auth_login_username ||
        state_ == State::auth_login_password) {
        return abandon_auth(std::move(reply));
    }
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
    return Action::send(std::move(reply));
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
