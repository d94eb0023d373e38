#pragma once
// Shared helpers for the SessionMachine tests: a configured machine and reply matchers.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "relay/smtp/sasl.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::smtp::testing_support {

inline SessionSettings tls_settings() {
    SessionSettings settings;
    settings.hostname = "relay.example";
    settings.starttls_available = true;
    settings.tls_active = true;
    settings.max_message_bytes = 1000000;
    settings.max_recipients = 3;
    settings.max_errors = 10;
    return settings;
}

// "250 2.1.0" style prefix of the last line of the reply.
inline std::string status(const Action& action) {
    const auto& reply = action.reply;
    std::string text = std::to_string(reply.code);
    if (!reply.enhanced.empty()) text += " " + reply.enhanced;
    return text;
}

inline std::string plain(std::string_view user, std::string_view password,
                         std::string_view authzid = "") {
    std::string message(authzid);
    message += '\0';
    message += user;
    message += '\0';
    message += password;
    return encode_base64(message);
}

// Drives a machine through EHLO and, if asked, a successful AUTH PLAIN.
inline SessionMachine ready_machine(SessionSettings settings = tls_settings(),
                                    bool authenticate = false) {
    SessionMachine machine(std::move(settings));
    EXPECT_EQ(status(machine.on_line("EHLO client.example")), "250");
    if (authenticate) {
        auto action = machine.on_line("AUTH PLAIN " + plain("user", "secret"));
        EXPECT_EQ(action.kind, Action::Kind::authenticate);
        EXPECT_EQ(status(machine.on_auth_result(AuthOutcome::success)), "235 2.7.0");
    }
    return machine;
}

inline SessionMachine authenticated_machine(SessionSettings settings = tls_settings()) {
    return ready_machine(std::move(settings), true);
}

}  // namespace smarthost::smtp::testing_support
