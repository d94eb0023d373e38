// The AUTH exchange of the session machine (RFC 4954; PLAIN RFC 4616, LOGIN).
#include <optional>
#include <utility>

#include "relay/smtp/command_parser.hpp"
#include "relay/smtp/sasl.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::smtp {

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
        return Action::send(reply::auth_challenge(""));
    }
    state_ = State::auth_login_username;
    if (initial_response) return on_auth_response(*initial_response);
    return Action::send(reply::auth_challenge(k_login_username_prompt));
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
        return Action::send(reply::auth_challenge(k_login_password_prompt));
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
        return Action::send(reply::bad_sequence("No authentication in progress"));
    }
    state_ = State::ready;
    auto username = std::move(pending_auth_.username);
    pending_auth_ = {};
    switch (outcome) {
        case AuthOutcome::success:
            authenticated_ = true;
            auth_username_ = std::move(username);
            return Action::send(reply::auth_succeeded());
        case AuthOutcome::temporary_failure:
            return Action::send(reply::auth_temporary_failure());
        case AuthOutcome::invalid_credentials:
            break;
    }
    return auth_failed(reply::auth_credentials_invalid());
}

Action SessionMachine::on_auth_locked(Reply reply) {
    if (state_ != State::auth_pending) {
        return Action::send(reply::bad_sequence("No authentication in progress"));
    }
    state_ = State::ready;
    pending_auth_ = {};
    return Action::send(std::move(reply));
}

Action SessionMachine::on_auth_refused(Reply reply) {
    if (state_ != State::auth_pending) {
        return Action::send(reply::bad_sequence("No authentication in progress"));
    }
    pending_auth_ = {};
    return close(std::move(reply));
}

Action SessionMachine::abandon_auth(Reply reply) {
    state_ = State::ready;
    pending_auth_ = {};
    return error(std::move(reply));
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

}  // namespace smarthost::smtp
