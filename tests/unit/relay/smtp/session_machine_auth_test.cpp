// AUTH (RFC 4954) in the SessionMachine: PLAIN and LOGIN, initial responses, cancellation,
// malformed responses and the TLS requirement of contract 3.

#include <gtest/gtest.h>

#include "relay/smtp/sasl.hpp"
#include "relay/smtp/session_machine.hpp"
#include "tests/unit/relay/smtp/session_test_support.hpp"

namespace smarthost::smtp {
namespace {

using namespace testing_support;
using Kind = Action::Kind;

TEST(SessionMachineAuth, PlainWithInitialResponse) {
    auto machine = ready_machine();
    auto action = machine.on_line("AUTH PLAIN " + plain("user@example.com", "s3cret"));
    ASSERT_EQ(action.kind, Kind::authenticate);
    EXPECT_EQ(action.auth.mechanism, "PLAIN");
    EXPECT_EQ(action.auth.authzid, "");
    EXPECT_EQ(action.auth.username, "user@example.com");
    EXPECT_EQ(action.auth.password, "s3cret");
    auto result = machine.on_auth_result(AuthOutcome::success);
    EXPECT_EQ(result.reply.wire(), "235 2.7.0 Authentication successful\r\n");
    EXPECT_TRUE(machine.authenticated());
    EXPECT_EQ(machine.auth_username(), "user@example.com");
}

// Each guess on one connection costs a 535 and the delay; the last one allowed closes the
// connection, so guessing has to reconnect where the per-network lockout counts it.
TEST(SessionMachineAuth, FailedAuthPastThePerConnectionCapCloses) {
    auto settings = tls_settings();
    settings.max_auth_failures = 3;
    auto machine = ready_machine(settings);
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(machine.on_line("AUTH PLAIN " + plain("user", "guess")).kind, Kind::authenticate);
        EXPECT_EQ(status(machine.on_auth_result(AuthOutcome::invalid_credentials)), "535 5.7.8");
    }
    // A refused authorization identity is a failure too.
    auto third = machine.on_line("AUTH PLAIN " + plain("user", "guess", "admin"));
    EXPECT_EQ(third.kind, Kind::close);
    EXPECT_EQ(third.reply.wire(),
              "421 4.7.0 relay.example Too many failed authentication attempts, closing "
              "connection\r\n");
    EXPECT_EQ(third.cap_reached, "auth_failures");
}

TEST(SessionMachineAuth, TemporaryFailuresDoNotCountTowardsTheCap) {
    auto settings = tls_settings();
    settings.max_auth_failures = 1;
    auto machine = ready_machine(settings);
    machine.on_line("AUTH PLAIN " + plain("user", "pw"));
    EXPECT_EQ(status(machine.on_auth_result(AuthOutcome::temporary_failure)), "454 4.7.0");
    machine.on_line("AUTH PLAIN " + plain("user", "pw"));
    EXPECT_EQ(machine.on_auth_result(AuthOutcome::invalid_credentials).kind, Kind::close);
}

TEST(SessionMachineAuth, PlainAuthzidEqualToTheUsernameIsCarried) {
    auto machine = ready_machine();
    auto action = machine.on_line("AUTH PLAIN " + plain("user", "pw", "user"));
    ASSERT_EQ(action.kind, Kind::authenticate);
    EXPECT_EQ(action.auth.authzid, "user");
}

// RFC 4616 section 2: a client may not act as another identity. Refused before the
// credential is looked up, so the reply says nothing about the password.
TEST(SessionMachineAuth, PlainAuthzidOfAnotherIdentityIs535BeforeAnyLookUp) {
    auto machine = ready_machine();
    auto action = machine.on_line("AUTH PLAIN " + plain("user", "pw", "admin"));
    EXPECT_EQ(action.kind, Kind::reply);
    EXPECT_EQ(action.reply.wire(),
              "535 5.7.8 Authorization identity must be empty or the username\r\n");
    EXPECT_FALSE(machine.authenticated());
    EXPECT_EQ(status(machine.on_line("NOOP")), "250 2.0.0");  // back to commands
}

// A NUL in a LOGIN username made the lockout key ("victim\0x") differ from the key the
// database looked up ("victim"): failures were counted against no one.
TEST(SessionMachineAuth, ControlCharactersInAUsernameAre501BeforeAnyLookUp) {
    for (const std::string& username : {std::string("victim\0x", 8), std::string("victim\r\n"),
                                        std::string("vic\ttim"), std::string("victim\x7f")}) {
        auto login = ready_machine();
        login.on_line("AUTH LOGIN");
        auto refused = login.on_line(encode_base64(username));
        EXPECT_EQ(refused.kind, Kind::reply);
        EXPECT_EQ(refused.reply.wire(), "501 5.5.2 Username contains a control character\r\n");

        auto plain_machine = ready_machine();
        auto plain_refused = plain_machine.on_line("AUTH PLAIN " + plain(username, "pw"));
        EXPECT_EQ(plain_refused.kind, Kind::reply);
        EXPECT_EQ(status(plain_refused), "501 5.5.2");
    }
}

TEST(SessionMachineAuth, AUsernameThatIsNotUtf8Is501) {
    auto machine = ready_machine();
    auto action = machine.on_line("AUTH PLAIN " + plain("caf\xe9", "pw"));
    EXPECT_EQ(action.reply.wire(), "501 5.5.2 Username is not valid UTF-8\r\n");
    auto accepted = ready_machine().on_line("AUTH PLAIN " + plain("caf\xc3\xa9", "pw"));
    EXPECT_EQ(accepted.kind, Kind::authenticate);
}

TEST(SessionMachineAuth, ANulInALoginPasswordIs501) {
    auto machine = ready_machine();
    machine.on_line("AUTH LOGIN");
    machine.on_line(encode_base64("user"));
    auto action = machine.on_line(encode_base64(std::string("pw\0rest", 7)));
    EXPECT_EQ(action.reply.wire(), "501 5.5.2 Password contains NUL\r\n");
}

TEST(SessionMachineAuth, PlainWithoutInitialResponseSendsEmptyChallenge) {
    auto machine = ready_machine();
    auto challenge = machine.on_line("auth plain");
    EXPECT_EQ(challenge.kind, Kind::reply);
    EXPECT_EQ(challenge.reply.wire(), "334 \r\n");
    auto action = machine.on_line(plain("user", "pw"));
    ASSERT_EQ(action.kind, Kind::authenticate);
    EXPECT_EQ(action.auth.username, "user");
    EXPECT_EQ(action.auth.password, "pw");
}

TEST(SessionMachineAuth, PlainWithEmptyInitialResponseIsMalformed) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("AUTH PLAIN =")), "501 5.5.2");
}

TEST(SessionMachineAuth, LoginAsksUsernameThenPassword) {
    auto machine = ready_machine();
    EXPECT_EQ(machine.on_line("AUTH LOGIN").reply.wire(), "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(machine.on_line(encode_base64("user")).reply.wire(), "334 UGFzc3dvcmQ6\r\n");
    auto action = machine.on_line(encode_base64("pw"));
    ASSERT_EQ(action.kind, Kind::authenticate);
    EXPECT_EQ(action.auth.mechanism, "LOGIN");
    EXPECT_EQ(action.auth.username, "user");
    EXPECT_EQ(action.auth.password, "pw");
}

TEST(SessionMachineAuth, LoginWithInitialUsername) {
    auto machine = ready_machine();
    EXPECT_EQ(machine.on_line("AUTH login " + encode_base64("user")).reply.wire(),
              "334 UGFzc3dvcmQ6\r\n");
    auto action = machine.on_line(encode_base64("pw"));
    ASSERT_EQ(action.kind, Kind::authenticate);
    EXPECT_EQ(action.auth.username, "user");
}

TEST(SessionMachineAuth, StarCancels) {
    for (const char* mechanism : {"AUTH PLAIN", "AUTH LOGIN"}) {
        auto machine = ready_machine();
        machine.on_line(mechanism);
        auto action = machine.on_line("*");
        EXPECT_EQ(action.reply.wire(), "501 5.0.0 Authentication cancelled\r\n");
        EXPECT_FALSE(machine.authenticated());
        EXPECT_EQ(status(machine.on_line("NOOP")), "250 2.0.0");  // back to commands
    }
    auto machine = ready_machine();
    machine.on_line("AUTH LOGIN");
    machine.on_line(encode_base64("user"));
    EXPECT_EQ(status(machine.on_line("*")), "501 5.0.0");
}

TEST(SessionMachineAuth, BadBase64Is501_5_5_2) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("AUTH PLAIN !!!!")), "501 5.5.2");
    machine.on_line("AUTH LOGIN");
    EXPECT_EQ(status(machine.on_line("not base64")), "501 5.5.2");
    EXPECT_EQ(status(machine.on_line("NOOP")), "250 2.0.0");
}

TEST(SessionMachineAuth, MalformedPlainMessages) {
    using namespace std::string_literals;
    for (const auto& message : {"user\0pw"s, "\0\0pw"s, "\0user\0"s, "a\0b\0c\0d"s}) {
        auto machine = ready_machine();
        EXPECT_EQ(status(machine.on_line("AUTH PLAIN " + encode_base64(message))), "501 5.5.2");
    }
}

TEST(SessionMachineAuth, UnknownMechanismIs504) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("AUTH CRAM-MD5")), "504 5.5.4");
    EXPECT_EQ(status(machine.on_line("AUTH XOAUTH2 abc")), "504 5.5.4");
    EXPECT_EQ(status(machine.on_line("AUTH")), "501 5.5.4");
}

TEST(SessionMachineAuth, WithoutTlsIs538) {
    auto settings = tls_settings();
    settings.tls_active = false;
    auto machine = ready_machine(settings);
    auto action = machine.on_line("AUTH PLAIN " + plain("user", "pw"));
    EXPECT_EQ(action.kind, Kind::reply);
    EXPECT_EQ(action.reply.wire(),
              "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
    EXPECT_EQ(status(machine.on_line("AUTH LOGIN")), "538 5.7.11");
}

TEST(SessionMachineAuth, AllowedWithoutTlsOnlyWhenConfigured) {
    auto settings = tls_settings();
    settings.tls_active = false;
    settings.auth_allowed_without_tls = true;
    auto machine = ready_machine(settings);
    EXPECT_EQ(machine.on_line("AUTH PLAIN " + plain("user", "pw")).kind, Kind::authenticate);
}

TEST(SessionMachineAuth, BeforeEhloOrAfterHeloIsBadSequence) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(status(machine.on_line("AUTH PLAIN " + plain("u", "p"))), "503 5.5.1");
    machine.on_line("HELO c.example");
    EXPECT_EQ(status(machine.on_line("AUTH PLAIN " + plain("u", "p"))), "503 5.5.1");
}

TEST(SessionMachineAuth, AlreadyAuthenticatedIsBadSequence) {
    auto machine = authenticated_machine();
    EXPECT_EQ(status(machine.on_line("AUTH PLAIN " + plain("u", "p"))), "503 5.5.1");
}

TEST(SessionMachineAuth, DuringTransactionIsBadSequence) {
    auto machine = ready_machine();
    machine.on_line("MAIL FROM:<a@b.example>");
    EXPECT_EQ(status(machine.on_line("AUTH PLAIN " + plain("u", "p"))), "503 5.5.1");
}

TEST(SessionMachineAuth, InvalidCredentialsAre535AndCount) {
    auto settings = tls_settings();
    settings.max_errors = 2;
    auto machine = ready_machine(settings);
    for (int i = 0; i < 2; ++i) {
        machine.on_line("AUTH PLAIN " + plain("u", "wrong"));
        EXPECT_EQ(machine.on_auth_result(AuthOutcome::invalid_credentials).reply.wire(),
                  "535 5.7.8 Authentication credentials invalid\r\n");
    }
    machine.on_line("AUTH PLAIN " + plain("u", "wrong"));
    auto action = machine.on_auth_result(AuthOutcome::invalid_credentials);
    EXPECT_EQ(action.kind, Kind::close);
    EXPECT_EQ(status(action), "421 4.7.0");
    EXPECT_FALSE(machine.authenticated());
}

TEST(SessionMachineAuth, TemporaryFailureIs454AndRetryable) {
    auto machine = ready_machine();
    machine.on_line("AUTH PLAIN " + plain("u", "p"));
    EXPECT_EQ(machine.on_auth_result(AuthOutcome::temporary_failure).reply.wire(),
              "454 4.7.0 Temporary authentication failure\r\n");
    EXPECT_FALSE(machine.authenticated());
    EXPECT_EQ(machine.on_line("AUTH PLAIN " + plain("u", "p")).kind, Kind::authenticate);
}

TEST(SessionMachineAuth, OverlongResponseLineCancelsTheExchange) {
    auto machine = ready_machine();
    machine.on_line("AUTH PLAIN");
    EXPECT_EQ(status(machine.on_line_too_long()), "500 5.5.2");
    EXPECT_EQ(status(machine.on_line("NOOP")), "250 2.0.0");
}

TEST(SessionMachineAuth, CommandsDuringPendingVerificationAreRefused) {
    auto machine = ready_machine();
    machine.on_line("AUTH PLAIN " + plain("u", "p"));
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "503 5.5.1");
    EXPECT_EQ(status(machine.on_auth_result(AuthOutcome::success)), "235 2.7.0");
}

TEST(SessionMachineAuth, RefusalAfterRightCredentialsClosesWithTheGivenReply) {
    auto machine = ready_machine();
    machine.on_line("AUTH PLAIN " + plain("u", "p"));
    auto action = machine.on_auth_refused(reply::account_connection_limit("relay.example", 2));
    EXPECT_EQ(action.kind, Kind::close);
    EXPECT_EQ(action.reply.wire(),
              "421 4.7.0 relay.example too many connections for this account (limit 2)\r\n");
    EXPECT_FALSE(machine.authenticated());
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "503 5.5.1");
}

TEST(SessionMachineAuth, RefusalWithoutPendingAuthIsBadSequence) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_auth_refused(reply::account_connection_limit("h", 1))),
              "503 5.5.1");
}

}  // namespace
}  // namespace smarthost::smtp
