// Contract 2, never an open relay: RCPT in the SessionMachine for unauthorized and
// authorized clients, with every address trick we know of.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay/smtp/session_machine.hpp"
#include "tests/unit/relay/smtp/session_test_support.hpp"

namespace smarthost::smtp {
namespace {

using namespace testing_support;

const std::vector<std::string> k_address_tricks = {
    "<victim@remote.example>",
    "<user%remote.example@relay.example>",
    "<user%remote.example>",
    "<@relay.example:victim@remote.example>",
    "<@a.example,@b.example:victim@remote.example>",
    "<\"victim@remote.example\"@relay.example>",
    "<\"victim@remote.example\">",
    "<remote.example!victim@relay.example>",
    "<remote.example!victim>",
    "<victim@remote.example.>",
    "<victim@[192.0.2.1]>",
    "<victim@[IPv6:2001:db8::1]>",
    "<postmaster>",
    "<Postmaster@relay.example>",
    "<>",
    "<victim@remote.example> NOTIFY=NEVER",
    "victim@remote.example",
    "<victim@remote.example",
    "<victim@remote.example>>",
    "<victim@remote.example@other.example>",
    "<VICTIM@REMOTE.EXAMPLE>",
    "<victim@localhost>",
    "<victim@relay.example> ORCPT=rfc822;victim@remote.example",
};

SessionMachine unauthenticated_in_mail(SessionSettings settings = tls_settings()) {
    auto machine = ready_machine(std::move(settings));
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@sender.example>")), "250 2.1.0");
    return machine;
}

SessionMachine authorized_in_mail(bool allowlisted, std::string mail_parameters = "") {
    auto settings = tls_settings();
    settings.max_recipients = 1000;
    settings.max_errors = 1000;
    settings.client_allowlisted = allowlisted;
    auto machine = ready_machine(settings, !allowlisted);
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@sender.example>" + mail_parameters)),
              "250 2.1.0");
    return machine;
}

TEST(SessionMachineRelay, RcptWithoutAuthIsRefusedWith530) {
    auto machine = unauthenticated_in_mail();
    auto action = machine.on_line("RCPT TO:<victim@remote.example>");
    EXPECT_EQ(action.kind, Action::Kind::reply);
    EXPECT_EQ(action.reply.wire(), "530 5.7.0 Authentication required\r\n");
    EXPECT_TRUE(machine.envelope().recipients.empty());
}

TEST(SessionMachineRelay, NoAddressTrickGetsPastTheAuthCheck) {
    auto settings = tls_settings();
    settings.max_errors = 1000;
    for (const auto& trick : k_address_tricks) {
        for (const char* verb :
             {"RCPT TO:", "rcpt to:", "RCPT TO: ", "RCPT ", "RCPT TO:<x@y.example> "}) {
            auto machine = unauthenticated_in_mail(settings);
            auto action = machine.on_line(verb + trick);
            EXPECT_EQ(status(action), "530 5.7.0") << verb << trick;
            EXPECT_TRUE(machine.envelope().recipients.empty()) << verb << trick;
        }
    }
}

TEST(SessionMachineRelay, NoAddressTrickWorksWithoutTlsOrAfterFailedAuth) {
    auto settings = tls_settings();
    settings.tls_active = false;
    settings.max_errors = 1000;
    auto machine = ready_machine(settings);
    machine.on_line("AUTH PLAIN " + plain("u", "p"));  // 538, nothing happens
    machine.on_line("MAIL FROM:<>");
    for (const auto& trick : k_address_tricks) {
        EXPECT_EQ(status(machine.on_line("RCPT TO:" + trick)), "530 5.7.0") << trick;
    }

    auto failed = ready_machine();
    failed.on_line("AUTH PLAIN " + plain("u", "wrong"));
    failed.on_auth_result(AuthOutcome::invalid_credentials);
    failed.on_line("MAIL FROM:<>");
    EXPECT_EQ(status(failed.on_line("RCPT TO:<victim@remote.example>")), "530 5.7.0");
}

TEST(SessionMachineRelay, AuthorizationIsLostWithStarttls) {
    auto settings = tls_settings();
    settings.tls_active = false;
    settings.auth_allowed_without_tls = true;
    auto machine = authenticated_machine(settings);
    machine.on_line("STARTTLS");
    machine.on_tls_started();
    machine.on_line("EHLO c.example");
    machine.on_line("MAIL FROM:<>");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<victim@remote.example>")), "530 5.7.0");
}

TEST(SessionMachineRelay, RcptBeforeMailIsBadSequence) {
    auto machine = authenticated_machine();
    EXPECT_EQ(machine.on_line("RCPT TO:<a@b.example>").reply.wire(),
              "503 5.5.1 Need MAIL before RCPT\r\n");
}

TEST(SessionMachineRelay, UnauthenticatedRcptCountsAsError) {
    auto settings = tls_settings();
    settings.max_errors = 2;
    auto machine = unauthenticated_in_mail(settings);
    machine.on_line("RCPT TO:<a@b.example>");
    machine.on_line("RCPT TO:<a@b.example>");
    EXPECT_EQ(machine.on_line("RCPT TO:<a@b.example>").kind, Action::Kind::close);
}

struct Expectation {
    std::string argument;
    std::string status;
    std::string address;  // for 250: what the envelope holds
    std::string domain;
};

const std::vector<Expectation> k_authorized = {
    {"<Victim@Remote.Example>", "250 2.1.5", "Victim@Remote.Example", "remote.example"},
    {"<user%remote.example@relay.example>", "250 2.1.5", "user%remote.example@relay.example",
     "relay.example"},
    {"<user%remote.example>", "501 5.1.3", "", ""},
    {"<@relay.example:victim@remote.example>", "250 2.1.5", "victim@remote.example",
     "remote.example"},
    {"<@a.example,@b.example:victim@remote.example>", "250 2.1.5", "victim@remote.example",
     "remote.example"},
    {"<\"victim@remote.example\"@relay.example>", "250 2.1.5",
     "\"victim@remote.example\"@relay.example", "relay.example"},
    {"<\"victim@remote.example\">", "501 5.1.3", "", ""},
    {"<remote.example!victim@relay.example>", "250 2.1.5", "remote.example!victim@relay.example",
     "relay.example"},
    {"<remote.example!victim>", "501 5.1.3", "", ""},
    {"<victim@remote.example.>", "501 5.1.3", "", ""},
    {"<victim@[192.0.2.1]>", "250 2.1.5", "victim@[192.0.2.1]", "[192.0.2.1]"},
    {"<victim@[IPv6:2001:DB8::1]>", "250 2.1.5", "victim@[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]"},
    {"<victim@[192.0.2.256]>", "501 5.1.3", "", ""},
    {"<postmaster>", "550 5.1.1", "", ""},
    {"<PostMaster>", "550 5.1.1", "", ""},
    {"<>", "501 5.1.3", "", ""},
    {"victim@remote.example", "501 5.5.4", "", ""},
    {"<victim@remote.example", "501 5.5.4", "", ""},
    {"<victim@remote.example>>", "501 5.5.4", "", ""},
    {"<victim@remote.example@other.example>", "501 5.1.3", "", ""},
    {"<victim@remote.example> NOTIFY=NEVER", "250 2.1.5", "victim@remote.example",
     "remote.example"},
    {"<v@remote.example> notify=delay,success", "250 2.1.5", "v@remote.example", "remote.example"},
    {"<v@remote.example> NOTIFY=NEVER,SUCCESS", "501 5.5.4", "", ""},
    {"<v@remote.example> NOTIFY=FAILURE,FAILURE", "501 5.5.4", "", ""},
    {"<v@remote.example> NOTIFY=", "501 5.5.4", "", ""},
    {"<v@remote.example> NOTIFY", "501 5.5.4", "", ""},
    {"<v@remote.example> NOTIFY=SOMETIMES", "501 5.5.4", "", ""},
    {"<v@remote.example> ORCPT=rfc822;v+40remote.example", "250 2.1.5", "v@remote.example",
     "remote.example"},
    {"<v@remote.example> ORCPT=rfc822", "501 5.5.4", "", ""},
    {"<v@remote.example> ORCPT=;v", "501 5.5.4", "", ""},
    {"<v@remote.example> NOTIFY=NEVER NOTIFY=NEVER", "501 5.5.4", "", ""},
    {"<v@remote.example> SIZE=10", "555 5.5.4", "", ""},
    {"<jörg@bücher.example>", "501 5.1.3", "", ""},
    {"<" + std::string(250, 'x') + "@remote.example>", "501 5.1.3", "", ""},
};

TEST(SessionMachineRelay, AuthenticatedRecipientsAreParsedStrictly) {
    for (const auto& expected : k_authorized) {
        auto machine = authorized_in_mail(false);
        auto action = machine.on_line("RCPT TO:" + expected.argument);
        EXPECT_EQ(status(action), expected.status) << expected.argument;
        if (expected.status == "250 2.1.5") {
            ASSERT_EQ(machine.envelope().recipients.size(), 1u) << expected.argument;
            const auto& recipient = machine.envelope().recipients[0];
            EXPECT_EQ(recipient.address, expected.address) << expected.argument;
            EXPECT_EQ(recipient.domain, expected.domain) << expected.argument;
        } else {
            EXPECT_TRUE(machine.envelope().recipients.empty()) << expected.argument;
        }
    }
}

TEST(SessionMachineRelay, AllowlistedClientRelaysWithoutAuth) {
    auto machine = authorized_in_mail(true);
    EXPECT_EQ(machine.on_line("RCPT TO:<v@remote.example>").reply.wire(),
              "250 2.1.5 Recipient ok\r\n");
    EXPECT_FALSE(machine.authenticated());
}

TEST(SessionMachineRelay, DsnParametersAreStored) {
    auto machine = authorized_in_mail(false);
    machine.on_line("RCPT TO:<v@remote.example> NOTIFY=success,delay ORCPT=rfc822;v+40x.example");
    ASSERT_EQ(machine.envelope().recipients.size(), 1u);
    EXPECT_EQ(machine.envelope().recipients[0].notify, "SUCCESS,DELAY");
    EXPECT_EQ(machine.envelope().recipients[0].orcpt, "rfc822;v+40x.example");
}

TEST(SessionMachineRelay, RecipientLocalPartOver64OctetsIs501_5_1_3) {
    auto machine = authorized_in_mail(false);
    EXPECT_EQ(machine.on_line("RCPT TO:<" + std::string(65, 'v') + "@remote.example>").reply.wire(),
              "501 5.1.3 Bad recipient address syntax: local part longer than 64 octets (RFC 5321 "
              "section 4.5.3.1.1)\r\n");
    EXPECT_TRUE(machine.envelope().recipients.empty());
    EXPECT_EQ(status(machine.on_line("RCPT TO:<" + std::string(64, 'v') + "@remote.example>")),
              "250 2.1.5");
}

TEST(SessionMachineRelay, RaisedAddressLimitsAdmitLongRecipientLocalParts) {
    auto settings = tls_settings();
    settings.address_limits = AddressLimits{100, 256};
    settings.client_allowlisted = true;
    auto machine = ready_machine(settings);
    ASSERT_EQ(status(machine.on_line("MAIL FROM:<a@sender.example>")), "250 2.1.0");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<" + std::string(100, 'v') + "@remote.example>")),
              "250 2.1.5");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<" + std::string(101, 'v') + "@remote.example>")),
              "501 5.1.3");
}

TEST(SessionMachineRelay, Utf8RecipientWithSmtputf8) {
    auto machine = authorized_in_mail(false, " SMTPUTF8");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<jörg@Bücher.example>")), "250 2.1.5");
    EXPECT_EQ(machine.envelope().recipients.at(0).domain, "bücher.example");
}

}  // namespace
}  // namespace smarthost::smtp
