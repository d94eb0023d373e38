// Arbitrary client bytes through CommandReader and SessionMachine, with the I/O layer's
// side simulated. Invariants: no crash, replies are well-formed, no recipient is ever
// accepted for a client that is neither authenticated nor allow-listed (contract 2), and
// the reader's memory stays bounded.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/smtp/command_reader.hpp"
#include "relay/smtp/session_machine.hpp"

namespace {

using namespace smarthost::smtp;

void check(bool condition) {
    if (!condition) std::abort();
}

void check_reply(const Reply& reply) {
    check(reply.code >= 200 && reply.code <= 599);
    std::string wire = reply.wire();
    check(wire.size() >= 6 && wire.ends_with("\r\n"));
    for (std::size_t i = 0; i < wire.size(); ++i) {
        if (wire[i] == '\n') check(i > 0 && wire[i - 1] == '\r');
        if (wire[i] == '\r') check(i + 1 < wire.size() && wire[i + 1] == '\n');
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t flags = data[0];
    const std::size_t chunk = 1 + data[1] % 64;
    std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

    SessionSettings settings;
    settings.hostname = "relay.example";
    settings.starttls_available = flags & 1;
    settings.tls_active = flags & 2;
    settings.auth_allowed_without_tls = flags & 4;
    settings.client_allowlisted = flags & 8;
    settings.max_recipients = 1 + (flags >> 4);
    settings.max_errors = 1 + (flags >> 4);
    settings.max_message_bytes = 1000;
    const std::size_t max_line = 64;

    SessionMachine machine(settings);
    CommandReader reader(max_line);
    std::string inbox;
    std::size_t auth_round = 0;
    for (std::size_t offset = 0; offset < input.size(); offset += chunk) {
        inbox.append(input.substr(offset, chunk));
        while (auto line = reader.next(inbox)) {
            Action action;
            switch (line->status) {
                case CommandLine::Status::complete:
                    check(line->text.size() + 2 <= max_line);
                    action = machine.on_line(line->text);
                    break;
                case CommandLine::Status::too_long:
                    action = machine.on_line_too_long();
                    break;
                case CommandLine::Status::bare_lf:
                    action = machine.on_bare_lf();
                    break;
            }
            // Play the I/O layer until the machine wants the next command line.
            for (;;) {
                if (action.kind == Action::Kind::close) {
                    check_reply(action.reply);
                    check(action.reply.code == 221 || action.reply.code == 421 ||
                          action.reply.code == 503);
                    return 0;
                }
                if (action.kind == Action::Kind::authenticate) {
                    check(action.auth.mechanism == "PLAIN" || action.auth.mechanism == "LOGIN");
                    check(!action.auth.username.empty() && !action.auth.password.empty());
                    check(settings.tls_active || machine.tls_active() ||
                          settings.auth_allowed_without_tls);
                    // Alternate outcomes so every path is reached.
                    action = machine.on_auth_result(static_cast<AuthOutcome>(auth_round++ % 3));
                    continue;
                }
                if (action.kind == Action::Kind::receive_data) {
                    check(action.reply.code == 354);
                    check(!machine.envelope().recipients.empty());
                    action = machine.on_data_end(static_cast<DataResult>(offset % 6));
                    continue;
                }
                if (action.kind == Action::Kind::enqueue) {
                    check(!machine.envelope().recipients.empty());
                    action = machine.on_enqueued(offset % 2 ? "Q1" : "");
                    continue;
                }
                if (action.kind == Action::Kind::start_tls) {
                    check(action.reply.code == 220);
                    machine.on_tls_started();
                    inbox.clear();  // RFC 3207: pipelined plaintext is discarded
                    break;
                }
                check_reply(action.reply);
                if (action.reply.code == 250 && action.reply.enhanced == "2.1.5") {
                    check(machine.authenticated() || settings.client_allowlisted);  // contract 2
                }
                break;
            }
            check(machine.envelope().recipients.size() <= settings.max_recipients);
            for (const auto& recipient : machine.envelope().recipients) {
                check(!recipient.domain.empty());
            }
        }
        check(inbox.size() <= max_line);
    }
    return 0;
}
