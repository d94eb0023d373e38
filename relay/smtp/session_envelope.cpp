// The mail transaction's envelope in the session machine: MAIL and RCPT with their
// parameters (RFC 5321, 1870 SIZE, 6152 BODY, 6531 SMTPUTF8, 3461 DSN), and the policy
// verdicts on the sender, each recipient and the message.
#include <charconv>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "relay/smtp/address.hpp"
#include "relay/smtp/command_parser.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::smtp {

namespace {

constexpr std::size_t k_max_envid_octets = 100;  // RFC 3461 section 4.4

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
Action refused(const PolicyVerdict& verdict) {
    auto action = Action::send(*verdict.refusal);
    action.refusal = verdict.reason;
    return action;
}

}  // namespace

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
        return Action::send(reply::message_too_big());
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
    return Action::send(reply::sender_ok());
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
        return Action::send(reply::too_many_recipients());
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
    return Action::send(reply::recipient_ok());
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
            return refused(verdict);
        case State::recipient_pending:
            if (verdict.refused()) {
                pending_recipient_ = {};
                const bool none = envelope_.recipients.empty() && envelope_.bounced.empty();
                state_ = none ? State::mail : State::rcpt;
                return refused(verdict);
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
                return Action::send(reply::recipient_ok());
            }
            return accept_recipient();
        case State::message_pending:
            if (!verdict.refused()) {
                state_ = State::enqueue_pending;
                return Action{Action::Kind::enqueue, Reply{}, {}, {}, {}};
            }
            reset_transaction();
            state_ = State::ready;
            return refused(verdict);
        default:
            break;
    }
    return Action::send(reply::bad_sequence("No policy check in progress"));
}
std::string_view refusal_name(Refusal reason) {
    switch (reason) {
        case Refusal::none:
        case Refusal::unavailable:
            return {};
        case Refusal::account_suspended:
            return "account_suspended";
        case Refusal::sender_domain:
            return "sender_domain";
        case Refusal::message_size:
            return "message_size";
        case Refusal::rate_limit:
            return "rate_limit";
        case Refusal::recipients_per_message:
            return "recipients_per_message";
        case Refusal::suppressed:
            return "suppressed";
        case Refusal::from_header:
            return "from_header";
        case Refusal::from_domain:
            return "from_domain";
        case Refusal::mail_loop:
            return "mail_loop";
        case Refusal::dnsbl:
            return "dnsbl";
        case Refusal::domain_blocklist:
            return "domain_blocklist";
        case Refusal::sub_user_header:
            return "sub_user_header";
        case Refusal::content_scan:
            return "content_scan";
        case Refusal::held_mail_full:
            return "held_mail_full";
    }
    return {};
}

std::string PolicyVerdict::rejection_row() const {
    std::string row(refusal_name(reason));
    if (reason == Refusal::rate_limit && !limit.empty()) row += ":" + limit;
    return row;
}

}  // namespace smarthost::smtp
