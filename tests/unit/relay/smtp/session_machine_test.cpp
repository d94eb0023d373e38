#include "relay/smtp/session_machine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "tests/unit/relay/smtp/session_test_support.hpp"

namespace smarthost::smtp {
namespace {

using namespace testing_support;
using Kind = Action::Kind;

bool has_line(const Action& action, std::string_view line) {
    const auto& lines = action.reply.lines;
    return std::find(lines.begin(), lines.end(), line) != lines.end();
}

SessionSettings plain_settings() {
    auto settings = tls_settings();
    settings.tls_active = false;
    return settings;
}

// A machine with a transaction open: EHLO, AUTH, MAIL, RCPT.
SessionMachine machine_in_rcpt() {
    auto machine = authenticated_machine();
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@sender.example>")), "250 2.1.0");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<b@dest.example>")), "250 2.1.5");
    return machine;
}

// What the shutdown asks before it tells an idle session 421 (relay/ingress/drain.hpp).
TEST(SessionMachine, InTransactionFromMailUntilDataOrRset) {
    auto machine = authenticated_machine();
    EXPECT_FALSE(machine.in_transaction());
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@sender.example>")), "250 2.1.0");
    EXPECT_TRUE(machine.in_transaction());
    EXPECT_EQ(status(machine.on_line("RCPT TO:<b@dest.example>")), "250 2.1.5");
    EXPECT_TRUE(machine.in_transaction());
    EXPECT_EQ(status(machine.on_line("RSET")), "250 2.0.0");
    EXPECT_FALSE(machine.in_transaction());
}

TEST(SessionMachine, GreetingNamesHostAndEsmtp) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(machine.greeting().wire(), "220 relay.example ESMTP smarthost\r\n");
}

TEST(SessionMachine, EhloListsExtensions) {
    SessionMachine machine(plain_settings());
    auto action = machine.on_line("EHLO client.example");
    EXPECT_EQ(action.kind, Kind::reply);
    EXPECT_EQ(action.reply.wire(),
              "250-relay.example Hello client.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n"
              "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n"
              "250 STARTTLS\r\n");
    EXPECT_EQ(machine.helo(), "client.example");
}

TEST(SessionMachine, EhloOffersAuthOnlyUnderTls) {
    SessionMachine without_tls(plain_settings());
    EXPECT_FALSE(has_line(without_tls.on_line("EHLO c.example"), "AUTH PLAIN LOGIN"));
    SessionMachine with_tls(tls_settings());
    auto action = with_tls.on_line("EHLO c.example");
    EXPECT_TRUE(has_line(action, "AUTH PLAIN LOGIN"));
    EXPECT_FALSE(has_line(action, "STARTTLS"));  // already active
}

TEST(SessionMachine, EhloOffersAuthWithoutTlsWhenConfiguredForTests) {
    auto settings = plain_settings();
    settings.auth_allowed_without_tls = true;
    SessionMachine machine(settings);
    EXPECT_TRUE(has_line(machine.on_line("EHLO c.example"), "AUTH PLAIN LOGIN"));
}

TEST(SessionMachine, EhloWithoutStarttlsCertificateDoesNotOfferIt) {
    auto settings = plain_settings();
    settings.starttls_available = false;
    SessionMachine machine(settings);
    EXPECT_FALSE(has_line(machine.on_line("EHLO c.example"), "STARTTLS"));
}

TEST(SessionMachine, HeloGetsOneLineWithoutExtensions) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(machine.on_line("HELO client.example").reply.wire(), "250 relay.example\r\n");
}

TEST(SessionMachine, EhloAndHeloNeedAValidDomainOrLiteral) {
    for (const char* bad : {"EHLO", "HELO", "EHLO bad..name", "EHLO a b", "EHLO name.",
                            "EHLO [1.2.3.999]", "HELO -x"}) {
        SessionMachine machine(tls_settings());
        EXPECT_EQ(status(machine.on_line(bad)), "501 5.5.4") << bad;
    }
    for (const char* good : {"EHLO [192.0.2.1]", "EHLO [IPv6:2001:db8::1]", "ehlo localhost",
                             "EHLO DESKTOP_42", "HELO x.example  "}) {
        SessionMachine machine(tls_settings());
        EXPECT_EQ(status(machine.on_line(good)), "250") << good;
    }
}

TEST(SessionMachine, QuitClosesWith221) {
    SessionMachine machine(tls_settings());
    auto action = machine.on_line("QUIT");
    EXPECT_EQ(action.kind, Kind::close);
    EXPECT_EQ(action.reply.wire(), "221 2.0.0 Bye\r\n");
}

TEST(SessionMachine, QuitWorksInEveryCommandState) {
    auto in_mail = authenticated_machine();
    in_mail.on_line("MAIL FROM:<>");
    EXPECT_EQ(in_mail.on_line("QUIT").kind, Kind::close);
    auto in_rcpt = machine_in_rcpt();
    EXPECT_EQ(in_rcpt.on_line("quit").kind, Kind::close);
}

TEST(SessionMachine, NoopHelpVrfyExpn) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(machine.on_line("NOOP").reply.wire(), "250 2.0.0 Ok\r\n");
    EXPECT_EQ(status(machine.on_line("NOOP anything")), "250 2.0.0");
    EXPECT_EQ(status(machine.on_line("HELP")), "214 2.0.0");
    EXPECT_EQ(status(machine.on_line("VRFY postmaster")), "252 2.5.0");
    EXPECT_EQ(status(machine.on_line("VRFY")), "501 5.5.4");
    EXPECT_EQ(status(machine.on_line("EXPN staff")), "502 5.5.1");
}

TEST(SessionMachine, UnknownCommandIs500AndUnsupportedIs502) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(machine.on_line("FOO bar").reply.wire(), "500 5.5.2 Command unrecognized\r\n");
    for (const char* verb : {"BDAT 10 LAST", "TURN", "ETRN example.com", "SOML FROM:<>"}) {
        EXPECT_EQ(status(machine.on_line(verb)), "502 5.5.1") << verb;
    }
}

TEST(SessionMachine, HttpRequestClosesTheConnection) {
    SessionMachine machine(tls_settings());
    auto action = machine.on_line("POST / HTTP/1.1");
    EXPECT_EQ(action.kind, Kind::close);
    EXPECT_EQ(status(action), "421 4.7.0");
}

TEST(SessionMachine, RsetKeepsEhloAndAuthButDropsTheTransaction) {
    auto machine = machine_in_rcpt();
    EXPECT_EQ(machine.on_line("RSET").reply.wire(), "250 2.0.0 Ok\r\n");
    EXPECT_TRUE(machine.envelope().recipients.empty());
    EXPECT_TRUE(machine.authenticated());
    EXPECT_EQ(status(machine.on_line("RCPT TO:<b@dest.example>")), "503 5.5.1");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@sender.example>")), "250 2.1.0");
    EXPECT_EQ(status(machine.on_line("RSET now")), "501 5.5.4");
}

TEST(SessionMachine, RsetBeforeEhloStillNeedsEhlo) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(status(machine.on_line("RSET")), "250 2.0.0");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<>")), "503 5.5.1");
}

TEST(SessionMachine, EhloResetsTheTransaction) {
    auto machine = machine_in_rcpt();
    EXPECT_EQ(status(machine.on_line("EHLO other.example")), "250");
    EXPECT_TRUE(machine.envelope().recipients.empty());
    EXPECT_EQ(status(machine.on_line("DATA")), "503 5.5.1");
    EXPECT_TRUE(machine.authenticated());
}

TEST(SessionMachine, CommandsBeforeEhloAreBadSequence) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(machine.on_line("MAIL FROM:<a@b.example>").reply.wire(),
              "503 5.5.1 Send EHLO/HELO first\r\n");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<a@b.example>")), "503 5.5.1");
    EXPECT_EQ(status(machine.on_line("DATA")), "503 5.5.1");
    EXPECT_EQ(status(machine.on_line("AUTH PLAIN")), "503 5.5.1");
}

TEST(SessionMachine, MailAcceptsSenderAndNullSender) {
    auto machine = ready_machine();
    EXPECT_EQ(machine.on_line("MAIL FROM:<a@sender.example>").reply.wire(),
              "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(machine.envelope().sender, "a@sender.example");
    machine.on_line("RSET");
    EXPECT_EQ(status(machine.on_line("mail from:<>")), "250 2.1.0");
    EXPECT_EQ(machine.envelope().sender, "");
}

TEST(SessionMachine, MailToleratesSpaceAfterColon) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("MAIL FROM: <a@sender.example>")), "250 2.1.0");
}

TEST(SessionMachine, NestedMailIsBadSequence) {
    auto machine = ready_machine();
    machine.on_line("MAIL FROM:<a@sender.example>");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@sender.example>")), "503 5.5.1");
}

SessionSettings patient_settings() {
    auto settings = tls_settings();
    settings.max_errors = 100;
    return settings;
}

TEST(SessionMachine, MailSyntaxErrors) {
    auto machine = ready_machine(patient_settings());
    for (const char* bad : {"MAIL", "MAIL FROM:", "MAIL FROM:a@b.example", "MAIL TO:<a@b.example>",
                            "MAIL FROM:<a@b.example", "MAIL FROM <a@b.example>"}) {
        EXPECT_EQ(status(machine.on_line(bad)), "501 5.5.4") << bad;
    }
    for (const char* bad : {"MAIL FROM:<a>", "MAIL FROM:<a@b.example.>", "MAIL FROM:<@b.example>",
                            "MAIL FROM:<a b@c.example>", "MAIL FROM:<a@[300.1.1.1]>"}) {
        EXPECT_EQ(status(machine.on_line(bad)), "501 5.1.7") << bad;
    }
}

TEST(SessionMachine, MailSourceRouteIsStripped) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<@hop.example:a@sender.example>")), "250 2.1.0");
    EXPECT_EQ(machine.envelope().sender, "a@sender.example");
}

TEST(SessionMachine, OverlongSenderIs501_5_1_7) {
    auto machine = ready_machine();
    std::string address = std::string(250, 'a') + "@b.example";
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<" + address + ">")), "501 5.1.7");
}

// RFC 5321 section 4.5.3.1.1. The enhanced code is the sender's (RFC 3463 X.1.7), as for
// every other unusable sender address; RCPT answers 5.1.3 for the same length.
TEST(SessionMachine, SenderLocalPartOver64OctetsIs501_5_1_7) {
    auto machine = ready_machine();
    EXPECT_EQ(machine.on_line("MAIL FROM:<" + std::string(65, 'a') + "@b.example>").reply.wire(),
              "501 5.1.7 Bad sender address syntax: local part longer than 64 octets (RFC 5321 "
              "section 4.5.3.1.1)\r\n");
    EXPECT_EQ(machine.envelope().sender, "");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<" + std::string(64, 'a') + "@b.example>")),
              "250 2.1.0");
}

TEST(SessionMachine, SenderPathOver256OctetsNamesThePathLimit) {
    auto machine = ready_machine();
    const std::string domain = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                               std::string(60, 'c') + "." + std::string(60, 'd') + ".example";
    EXPECT_EQ(
        machine.on_line("MAIL FROM:<" + std::string(10, 'x') + "@" + domain + ">").reply.wire(),
        "501 5.1.7 Bad sender address syntax: address longer than 256 octets (RFC 5321 "
        "section 4.5.3.1.3)\r\n");
}

TEST(SessionMachine, RaisedAddressLimitsAdmitLegacySenders) {
    auto settings = tls_settings();
    settings.address_limits = AddressLimits{128, 300};
    auto machine = ready_machine(settings);
    const std::string verp = "bounces+" + std::string(90, 'v') + "=example.org";
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<" + verp + "@lists.example>")), "250 2.1.0");
    EXPECT_EQ(machine.envelope().sender, verp + "@lists.example");
    machine.on_line("RSET");
    EXPECT_EQ(machine.on_line("MAIL FROM:<" + std::string(129, 'a') + "@b.example>").reply.wire(),
              "501 5.1.7 Bad sender address syntax: local part longer than 128 octets (RFC 5321 "
              "section 4.5.3.1.1)\r\n");
}

TEST(SessionMachine, MailParametersFillTheEnvelope) {
    auto machine = ready_machine();
    auto action = machine.on_line(
        "MAIL FROM:<a@sender.example> SIZE=500 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1 "
        "AUTH=<>");
    ASSERT_EQ(status(action), "250 2.1.0");
    const auto& envelope = machine.envelope();
    EXPECT_EQ(envelope.declared_size, 500u);
    EXPECT_EQ(envelope.body, BodyType::eight_bit_mime);
    EXPECT_TRUE(envelope.smtputf8);
    EXPECT_EQ(envelope.ret, DsnReturn::headers);
    EXPECT_EQ(envelope.envid, "id+1");
}

TEST(SessionMachine, MailParameterValuesAreCaseInsensitive) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example> body=7bit ret=full")), "250 2.1.0");
    EXPECT_EQ(machine.envelope().body, BodyType::seven_bit);
    EXPECT_EQ(machine.envelope().ret, DsnReturn::full);
}

TEST(SessionMachine, DeclaredSizeOverLimitIs552) {
    auto machine = ready_machine();
    EXPECT_EQ(machine.on_line("MAIL FROM:<a@b.example> SIZE=1000001").reply.wire(),
              "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example> SIZE=99999999999999999999999")),
              "552 5.3.4");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example> SIZE=1000000")), "250 2.1.0");
}

TEST(SessionMachine, BadMailParametersAre501) {
    auto machine = ready_machine(patient_settings());
    for (const char* bad :
         {"SIZE=abc", "SIZE=-1", "SIZE", "BODY=BINARYMIME", "BODY", "SMTPUTF8=yes", "RET=ALL",
          "ENVID=a+zz", "ENVID", "SIZE=1 SIZE=2", "BODY=7BIT body=8BITMIME"}) {
        EXPECT_EQ(status(machine.on_line(std::string("MAIL FROM:<a@b.example> ") + bad)),
                  "501 5.5.4")
            << bad;
    }
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example> ENVID=" + std::string(101, 'x'))),
              "501 5.5.4");
}

TEST(SessionMachine, UnknownMailParameterIs555) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example> FOO=bar")), "555 5.5.4");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example> HOLDFOR=1")), "555 5.5.4");
}

TEST(SessionMachine, ParametersNeedEhlo) {
    SessionMachine machine(tls_settings());
    machine.on_line("HELO client.example");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example> SIZE=10")), "555 5.5.4");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "250 2.1.0");
}

TEST(SessionMachine, Utf8SenderNeedsSmtputf8) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<jörg@bücher.example>")), "501 5.1.7");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<jörg@bücher.example> SMTPUTF8")), "250 2.1.0");
}

TEST(SessionMachine, DataNeedsRecipients) {
    auto machine = authenticated_machine();
    EXPECT_EQ(status(machine.on_line("DATA")), "503 5.5.1");
    machine.on_line("MAIL FROM:<a@b.example>");
    EXPECT_EQ(machine.on_line("DATA").reply.wire(), "503 5.5.1 No valid recipients\r\n");
}

TEST(SessionMachine, DataTakesNoArgument) {
    auto machine = machine_in_rcpt();
    EXPECT_EQ(status(machine.on_line("DATA now")), "501 5.5.4");
}

TEST(SessionMachine, DataThenEnqueueThenQueued) {
    auto machine = machine_in_rcpt();
    auto data = machine.on_line("DATA");
    EXPECT_EQ(data.kind, Kind::receive_data);
    EXPECT_EQ(data.reply.wire(), "354 End data with <CR><LF>.<CR><LF>\r\n");
    auto enqueue = machine.on_data_end(DataResult::ok);
    EXPECT_EQ(enqueue.kind, Kind::enqueue);
    EXPECT_TRUE(enqueue.reply.lines.empty());
    EXPECT_EQ(machine.envelope().recipients.size(), 1u);  // still there to be committed
    auto queued = machine.on_enqueued("Q123");
    EXPECT_EQ(queued.kind, Kind::reply);
    EXPECT_EQ(queued.reply.wire(), "250 2.0.0 Ok: queued as Q123\r\n");
    EXPECT_TRUE(machine.envelope().recipients.empty());
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "250 2.1.0");
}

// A client holding a session with NOOPs (or RSET/VRFY/HELP) and never sending mail is
// closed past max_junk_commands; a queued message starts the count again.
TEST(SessionMachine, JunkCommandsPastTheCapClose) {
    auto settings = tls_settings();
    settings.max_junk_commands = 3;
    settings.max_errors = 100;
    auto machine = ready_machine(settings, true);
    for (const char* junk : {"NOOP", "RSET", "VRFY someone"})
        EXPECT_NE(machine.on_line(junk).kind, Kind::close) << junk;
    auto closed = machine.on_line("HELP");
    EXPECT_EQ(closed.kind, Kind::close);
    EXPECT_EQ(
        closed.reply.wire(),
        "421 4.4.2 relay.example Too many commands without a message, closing connection\r\n");
    EXPECT_EQ(closed.cap_reached, "junk_commands");

    auto sending = ready_machine(settings, true);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(status(sending.on_line("NOOP")), "250 2.0.0");
    EXPECT_EQ(status(sending.on_line("MAIL FROM:<a@b.example>")), "250 2.1.0");
    EXPECT_EQ(status(sending.on_line("RCPT TO:<c@d.example>")), "250 2.1.5");
    EXPECT_EQ(sending.on_line("DATA").kind, Kind::receive_data);
    EXPECT_EQ(sending.on_data_end(DataResult::ok).kind, Kind::enqueue);
    EXPECT_EQ(status(sending.on_enqueued("Q1")), "250 2.0.0");
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(status(sending.on_line("NOOP")), "250 2.0.0") << i;
}

// RFC 2920: a client learns PIPELINING from the EHLO reply; a stranger sending behind its
// EHLO before that reply is a bot (Postfix's smtpd_forbid_unauth_pipelining).
TEST(SessionMachine, PipeliningBeforeTheEhloReplyIsForbiddenToStrangersOnly) {
    SessionMachine stranger(tls_settings());
    EXPECT_TRUE(stranger.pipelining_forbidden("EHLO bot.example", true));
    EXPECT_TRUE(stranger.pipelining_forbidden("HELO bot.example", true));
    EXPECT_FALSE(stranger.pipelining_forbidden("EHLO bot.example", false));
    EXPECT_FALSE(stranger.pipelining_forbidden("NOOP", true));

    auto listed = tls_settings();
    listed.client_allowlisted = true;
    EXPECT_FALSE(SessionMachine(listed).pipelining_forbidden("EHLO app.example", true));

    auto logged_in = ready_machine(tls_settings(), true);
    EXPECT_FALSE(logged_in.pipelining_forbidden("EHLO app.example", true));
    EXPECT_FALSE(logged_in.pipelining_forbidden("MAIL FROM:<a@b.example>", true));
}

TEST(SessionMachine, FailedEnqueueIs451AndResets) {
    auto machine = machine_in_rcpt();
    machine.on_line("DATA");
    machine.on_data_end(DataResult::ok);
    EXPECT_EQ(status(machine.on_enqueued("")), "451 4.3.0");
    EXPECT_TRUE(machine.envelope().recipients.empty());
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "250 2.1.0");
}

TEST(SessionMachine, DataProblemsGetPreciseRepliesAndReset) {
    const std::pair<DataResult, const char*> cases[] = {
        {DataResult::bare_lf, "554 5.6.0"}, {DataResult::bare_cr, "554 5.6.0"},
        {DataResult::nul, "554 5.6.0"},     {DataResult::line_too_long, "554 5.6.0"},
        {DataResult::too_big, "552 5.3.4"}, {DataResult::no_storage, "452 4.3.1"},
    };
    for (auto [result, expected] : cases) {
        auto machine = machine_in_rcpt();
        machine.on_line("DATA");
        auto action = machine.on_data_end(result);
        EXPECT_EQ(action.kind, Kind::reply);
        EXPECT_EQ(status(action), expected);
        EXPECT_TRUE(machine.envelope().recipients.empty());
        EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "250 2.1.0");
    }
    auto machine = machine_in_rcpt();
    machine.on_line("DATA");
    EXPECT_NE(machine.on_data_end(DataResult::bare_lf).reply.wire().find("bare LF"),
              std::string::npos);
}

TEST(SessionMachine, LinesWhileWaitingForIoAreRefused) {
    auto machine = machine_in_rcpt();
    machine.on_line("DATA");
    EXPECT_EQ(status(machine.on_line("QUIT")), "503 5.5.1");
    machine.on_data_end(DataResult::ok);
    EXPECT_EQ(status(machine.on_line("NOOP")), "503 5.5.1");
    EXPECT_EQ(status(machine.on_enqueued("Q")), "250 2.0.0");
}

TEST(SessionMachine, OutOfOrderIoEventsAreHarmless) {
    auto machine = ready_machine();
    EXPECT_EQ(status(machine.on_data_end(DataResult::ok)), "503 5.5.1");
    EXPECT_EQ(status(machine.on_enqueued("Q")), "503 5.5.1");
    EXPECT_EQ(status(machine.on_auth_result(AuthOutcome::success)), "503 5.5.1");
    EXPECT_FALSE(machine.authenticated());
}

TEST(SessionMachine, StarttlsResetsTheSession) {
    auto settings = plain_settings();
    settings.auth_allowed_without_tls = true;
    auto machine = authenticated_machine(settings);
    auto action = machine.on_line("STARTTLS");
    EXPECT_EQ(action.kind, Kind::start_tls);
    EXPECT_EQ(action.reply.wire(), "220 2.0.0 Ready to start TLS\r\n");
    machine.on_tls_started();
    EXPECT_TRUE(machine.tls_active());
    EXPECT_FALSE(machine.authenticated());
    EXPECT_EQ(machine.helo(), "");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "503 5.5.1");
    auto ehlo = machine.on_line("EHLO client.example");
    EXPECT_FALSE(has_line(ehlo, "STARTTLS"));
    EXPECT_TRUE(has_line(ehlo, "AUTH PLAIN LOGIN"));
}

TEST(SessionMachine, StarttlsRefusals) {
    SessionMachine machine(plain_settings());
    EXPECT_EQ(status(machine.on_line("STARTTLS")), "503 5.5.1");  // before EHLO
    machine.on_line("EHLO c.example");
    EXPECT_EQ(status(machine.on_line("STARTTLS now")), "501 5.5.4");
    SessionMachine tls(tls_settings());
    tls.on_line("EHLO c.example");
    EXPECT_EQ(status(tls.on_line("STARTTLS")), "503 5.5.1");  // already active
    auto settings = plain_settings();
    settings.starttls_available = false;
    SessionMachine no_certificate(settings);
    no_certificate.on_line("EHLO c.example");
    EXPECT_EQ(status(no_certificate.on_line("STARTTLS")), "502 5.5.1");
}

TEST(SessionMachine, StarttlsDuringTransactionIsRefused) {
    auto settings = plain_settings();
    settings.client_allowlisted = true;
    SessionMachine machine(settings);
    machine.on_line("EHLO c.example");
    machine.on_line("MAIL FROM:<a@b.example>");
    EXPECT_EQ(status(machine.on_line("STARTTLS")), "503 5.5.1");
}

TEST(SessionMachine, PipelinedCommandsAreAnsweredInOrder) {
    // RFC 2920: the I/O layer feeds each pipelined line in turn; a failed RCPT does not
    // spoil the others, and DATA sees the recipients accepted before it.
    auto machine = authenticated_machine();
    const std::vector<std::pair<const char*, const char*>> steps = {
        {"MAIL FROM:<a@sender.example> SIZE=100", "250 2.1.0"},
        {"RCPT TO:<one@dest.example>", "250 2.1.5"},
        {"RCPT TO:<broken@>", "501 5.1.3"},
        {"RCPT TO:<two@dest.example> NOTIFY=SUCCESS,FAILURE", "250 2.1.5"},
        {"DATA", "354"},
    };
    for (auto [line, expected] : steps)
        EXPECT_EQ(status(machine.on_line(line)), expected) << line;
    EXPECT_EQ(machine.envelope().recipients.size(), 2u);
}

TEST(SessionMachine, PipelinedDataAfterRejectedRecipientsIsRefused) {
    auto machine = ready_machine();  // not authenticated
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<a@b.example>")), "250 2.1.0");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<c@d.example>")), "530 5.7.0");
    EXPECT_EQ(status(machine.on_line("DATA")), "503 5.5.1");
}

TEST(SessionMachine, TooManyErrorsCloses) {
    auto settings = tls_settings();
    settings.max_errors = 3;
    SessionMachine machine(settings);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(status(machine.on_line("BOGUS")), "500 5.5.2");
    EXPECT_EQ(status(machine.on_line("NOOP")), "250 2.0.0");  // good commands do not count
    auto action = machine.on_line("BOGUS");
    EXPECT_EQ(action.kind, Kind::close);
    EXPECT_EQ(action.reply.wire(),
              "421 4.7.0 relay.example Too many errors, closing connection\r\n");
}

TEST(SessionMachine, ErrorsOfEveryKindCount) {
    auto settings = tls_settings();
    settings.max_errors = 4;
    SessionMachine machine(settings);
    machine.on_line("EHLO c.example");
    EXPECT_EQ(status(machine.on_line("RCPT TO:<a@b.example>")), "503 5.5.1");
    EXPECT_EQ(status(machine.on_line("MAIL FROM:<bad")), "501 5.5.4");
    EXPECT_EQ(status(machine.on_line_too_long()), "500 5.5.2");
    EXPECT_EQ(machine.on_bare_lf().reply.wire(), "500 5.5.2 Command lines must end with CRLF\r\n");
    EXPECT_EQ(machine.on_line("EXPN x").kind, Kind::close);
}

TEST(SessionMachine, TooManyRecipientsIsNotAnError) {
    auto settings = tls_settings();
    settings.max_errors = 1;
    auto machine = authenticated_machine(settings);
    machine.on_line("MAIL FROM:<a@b.example>");
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(status(machine.on_line("RCPT TO:<r" + std::to_string(i) + "@d.example>")),
                  "250 2.1.5");
    }
    for (int i = 0; i < 5; ++i) {
        auto action = machine.on_line("RCPT TO:<more@d.example>");
        EXPECT_EQ(action.kind, Kind::reply);
        EXPECT_EQ(action.reply.wire(), "452 4.5.3 Too many recipients\r\n");
    }
    EXPECT_EQ(machine.envelope().recipients.size(), 3u);
}

TEST(SessionMachine, TimeoutAndShutdownClose) {
    SessionMachine machine(tls_settings());
    auto timeout = machine.on_timeout();
    EXPECT_EQ(timeout.kind, Kind::close);
    EXPECT_EQ(timeout.reply.wire(), "421 4.4.2 relay.example Timeout, closing connection\r\n");
    SessionMachine other(tls_settings());
    auto shutdown = other.on_shutdown();
    EXPECT_EQ(shutdown.kind, Kind::close);
    EXPECT_EQ(shutdown.reply.wire(), "421 4.3.2 relay.example Service shutting down\r\n");
}

TEST(SessionMachine, LineTooLongReply) {
    SessionMachine machine(tls_settings());
    EXPECT_EQ(machine.on_line_too_long().reply.wire(), "500 5.5.2 Line too long\r\n");
}

TEST(SessionMachine, ProtocolNameFollowsRfc3848) {
    SessionMachine helo(plain_settings());
    helo.on_line("HELO c.example");
    EXPECT_EQ(helo.protocol_name(), "SMTP");
    SessionMachine ehlo(plain_settings());
    ehlo.on_line("EHLO c.example");
    EXPECT_EQ(ehlo.protocol_name(), "ESMTP");
    auto tls = ready_machine();
    EXPECT_EQ(tls.protocol_name(), "ESMTPS");
    auto tls_auth = authenticated_machine();
    EXPECT_EQ(tls_auth.protocol_name(), "ESMTPSA");
    auto settings = plain_settings();
    settings.auth_allowed_without_tls = true;
    EXPECT_EQ(authenticated_machine(settings).protocol_name(), "ESMTPA");
    tls_auth.on_line("MAIL FROM:<a@b.example> SMTPUTF8");
    EXPECT_EQ(tls_auth.protocol_name(), "UTF8SMTPSA");  // RFC 6531 section 3.7.3
}

}  // namespace
}  // namespace smarthost::smtp

namespace smarthost::smtp {
namespace {

using testing_support::status;
using testing_support::tls_settings;

// A client refused at connect (RFC 5321 section 3.1), max_errors = 3.
SessionMachine refused_machine() {
    auto settings = tls_settings();
    settings.max_errors = 3;
    SessionMachine machine(settings);
    const auto greeting =
        machine.refuse_service(Reply{554, "5.7.1", {"listed"}}, reply::no_service("192.0.2.7"));
    EXPECT_EQ(greeting.code, 554);
    EXPECT_TRUE(machine.refusing());
    return machine;
}

TEST(SessionMachineRefusal, EveryCommandButQuitIsAnswered503) {
    auto machine = refused_machine();
    for (const char* line : {"EHLO client.example", "MAIL FROM:<a@b.example>"}) {
        const auto action = machine.on_line(line);
        EXPECT_EQ(action.kind, Action::Kind::reply) << line;
        EXPECT_EQ(status(action), "503 5.7.1") << line;
    }
    EXPECT_FALSE(machine.pipelining_forbidden("EHLO x", true));
}

TEST(SessionMachineRefusal, QuitInAnyCaseGets221AndCloses) {
    auto machine = refused_machine();
    const auto action = machine.on_line("quit");
    EXPECT_EQ(action.kind, Action::Kind::close);
    EXPECT_EQ(action.reply.code, 221);
}

TEST(SessionMachineRefusal, QuitWithAnArgumentIsNotQuit) {
    auto machine = refused_machine();
    EXPECT_EQ(status(machine.on_line("QUIT now")), "503 5.7.1");
}

TEST(SessionMachineRefusal, TheMaxErrorsthLineIsAnswered421AndClosesEvenWhenUnreadable) {
    auto machine = refused_machine();
    EXPECT_EQ(status(machine.on_line("HELO x")), "503 5.7.1");
    EXPECT_EQ(status(machine.on_line_too_long()), "503 5.7.1");
    const auto action = machine.on_bare_lf();
    EXPECT_EQ(action.kind, Action::Kind::close);
    EXPECT_EQ(action.reply.code, 421);
}

}  // namespace
}  // namespace smarthost::smtp
