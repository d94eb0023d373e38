#include "relay/delivery/client_machine.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/relay/delivery/parsed_reply.hpp"

namespace smarthost::delivery {
namespace {

using test::reply;

smtp::Envelope envelope_to(std::vector<std::string> addresses) {
    smtp::Envelope envelope;
    envelope.sender = "sender@example.org";
    for (auto& address : addresses)
        envelope.recipients.push_back({address, "example.com", "", ""});
    return envelope;
}

Capabilities esmtp() {
    Capabilities caps;
    caps.esmtp = true;
    return caps;
}

// ---- dot-stuffing -----------------------------------------------------------------------

TEST(DotStuffer, DoublesLeadingDotsOnly) {
    EXPECT_EQ(dot_stuff(".hidden\r\na.b\r\n..two\r\n"), "..hidden\r\na.b\r\n...two\r\n.\r\n");
}

TEST(DotStuffer, LoneDotLineCannotEndTheMessage) {
    EXPECT_EQ(dot_stuff("a\r\n.\r\nb\r\n"), "a\r\n..\r\nb\r\n.\r\n");
}

TEST(DotStuffer, BodyWithoutFinalCrlfGetsOne) {
    EXPECT_EQ(dot_stuff("no newline"), "no newline\r\n.\r\n");
    EXPECT_EQ(dot_stuff("ends with dot."), "ends with dot.\r\n.\r\n");
}

TEST(DotStuffer, EmptyBodyIsJustTheTerminator) {
    EXPECT_EQ(dot_stuff(""), ".\r\n");
}

TEST(DotStuffer, BareLfAndBareCrBecomeCrlf) {
    EXPECT_EQ(dot_stuff("a\n.b\rc\r\n"), "a\r\n..b\r\nc\r\n.\r\n");
    EXPECT_EQ(dot_stuff("a\r"), "a\r\n.\r\n");
}

TEST(DotStuffer, ChunkBoundariesDoNotMatter) {
    const std::string body = "x\r\n.y\r\n\r\n.\r\n..z\r\nlast";
    const std::string whole = dot_stuff(body);
    for (std::size_t split = 0; split <= body.size(); ++split) {
        std::string out;
        DotStuffer stuffer;
        stuffer.feed(std::string_view(body).substr(0, split), out);
        stuffer.feed(std::string_view(body).substr(split), out);
        stuffer.finish(out);
        EXPECT_EQ(out, whole) << "split at " << split;
    }
}

TEST(DotStuffer, OneByteChunks) {
    const std::string body = ".a\r\n.\r\nb\r\n";
    std::string out;
    DotStuffer stuffer;
    for (char c : body)
        stuffer.feed(std::string_view(&c, 1), out);
    stuffer.finish(out);
    EXPECT_EQ(out, "..a\r\n..\r\nb\r\n.\r\n");
}

// ---- MAIL and RCPT ----------------------------------------------------------------------

TEST(ClientTransaction, PlainMailAndRcptForAMinimalServer) {
    auto envelope = envelope_to({"a@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "Subject: x\r\n\r\nhi\r\n"));
    EXPECT_EQ(t.mail_command(), "MAIL FROM:<sender@example.org>\r\n");
    EXPECT_EQ(t.rcpt_command(0), "RCPT TO:<a@example.com>\r\n");
}

TEST(ClientTransaction, NullSender) {
    auto envelope = envelope_to({"a@example.com"});
    envelope.sender.clear();
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    EXPECT_EQ(t.mail_command(), "MAIL FROM:<>\r\n");
}

TEST(ClientTransaction, SizeAnd8BitMimeWhenOfferedAndNeeded) {
    auto caps = esmtp();
    caps.size_announced = true;
    caps.eight_bit_mime = true;
    auto envelope = envelope_to({"a@example.com"});
    const std::string body = "Subject: caf\xc3\xa9\r\n\r\n\xc3\xa9t\xc3\xa9\r\n";
    ClientTransaction t(caps, envelope, message_traits(envelope, body));
    EXPECT_EQ(t.mail_command(), "MAIL FROM:<sender@example.org> SIZE=" +
                                    std::to_string(body.size()) + " BODY=8BITMIME\r\n");
    EXPECT_FALSE(t.eight_bit_without_8bitmime());
}

TEST(ClientTransaction, SevenBitMessageDoesNotClaim8BitMime) {
    auto caps = esmtp();
    caps.eight_bit_mime = true;
    auto envelope = envelope_to({"a@example.com"});
    ClientTransaction t(caps, envelope, message_traits(envelope, "plain\r\n"));
    EXPECT_EQ(t.mail_command(), "MAIL FROM:<sender@example.org>\r\n");
}

TEST(ClientTransaction, EightBitToServerWithout8BitMimeIsSentAsIsAndNoted) {
    auto envelope = envelope_to({"a@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "\xc3\xa9\r\n"));
    EXPECT_FALSE(t.refused_before_sending());
    EXPECT_TRUE(t.eight_bit_without_8bitmime());
    EXPECT_EQ(t.mail_command(), "MAIL FROM:<sender@example.org>\r\n");
}

TEST(ClientTransaction, DsnParametersOnlyWhenServerOffersDsn) {
    auto envelope = envelope_to({"a@example.com"});
    envelope.ret = smtp::DsnReturn::headers;
    envelope.envid = "id+1=2 x";
    envelope.recipients[0].notify = "SUCCESS,FAILURE";
    envelope.recipients[0].orcpt = "rfc822;a@example.com";
    const auto traits = message_traits(envelope, "x\r\n");
    ClientTransaction without(esmtp(), envelope, traits);
    EXPECT_EQ(without.mail_command(), "MAIL FROM:<sender@example.org>\r\n");
    EXPECT_EQ(without.rcpt_command(0), "RCPT TO:<a@example.com>\r\n");
    auto caps = esmtp();
    caps.dsn = true;
    ClientTransaction with(caps, envelope, traits);
    EXPECT_EQ(with.mail_command(),
              "MAIL FROM:<sender@example.org> RET=HDRS ENVID=id+2B1+3D2+20x\r\n");
    EXPECT_EQ(with.rcpt_command(0),
              "RCPT TO:<a@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@example.com\r\n");
}

TEST(ClientTransaction, Smtputf8ParameterWhenAddressesNeedIt) {
    auto caps = esmtp();
    caps.smtputf8 = true;
    auto envelope = envelope_to({"j\xc3\xb6rg@example.com"});
    ClientTransaction t(caps, envelope, message_traits(envelope, "x\r\n"));
    EXPECT_FALSE(t.refused_before_sending());
    EXPECT_EQ(t.mail_command(), "MAIL FROM:<sender@example.org> SMTPUTF8\r\n");
}

TEST(ClientTransaction, NeedsSmtputf8ButServerLacksItIsPermanent567WithoutSending) {
    auto envelope = envelope_to({"j\xc3\xb6rg@example.com", "b@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    ASSERT_TRUE(t.refused_before_sending());
    for (const auto& result : t.results()) {
        EXPECT_EQ(result.verdict, Verdict::permanent);
        EXPECT_EQ(result.reply.enhanced, "5.6.7");
        EXPECT_FALSE(result.remote);
    }
}

TEST(ClientTransaction, DeclaredSmtputf8WithAsciiOnlyGoesToAnyServer) {
    auto envelope = envelope_to({"a@example.com"});
    envelope.smtputf8 = true;
    ClientTransaction t(esmtp(), envelope,
                        message_traits(envelope, "Subject: hi\r\n\r\n\xc3\xa9\r\n"));
    EXPECT_FALSE(t.refused_before_sending());
}

TEST(ClientTransaction, DeclaredSmtputf8WithUtf8HeaderNeedsIt) {
    auto envelope = envelope_to({"a@example.com"});
    envelope.smtputf8 = true;
    auto traits = message_traits(envelope, "Subject: \xc3\xa9\r\n\r\nbody\r\n");
    EXPECT_TRUE(traits.needs_smtputf8);
}

TEST(ClientTransaction, LargerThanServerSizeIsPermanent534) {
    auto caps = esmtp();
    caps.size_announced = true;
    caps.max_size = 10;
    auto envelope = envelope_to({"a@example.com"});
    ClientTransaction t(caps, envelope, message_traits(envelope, std::string(11, 'x')));
    ASSERT_TRUE(t.refused_before_sending());
    EXPECT_EQ(t.results()[0].verdict, Verdict::permanent);
    EXPECT_EQ(t.results()[0].reply.code, 552);
    EXPECT_EQ(t.results()[0].reply.enhanced, "5.3.4");
}

TEST(ClientTransaction, SizeZeroMeansNoLimit) {
    auto caps = esmtp();
    caps.size_announced = true;
    auto envelope = envelope_to({"a@example.com"});
    ClientTransaction t(caps, envelope, message_traits(envelope, std::string(100, 'x')));
    EXPECT_FALSE(t.refused_before_sending());
}

// ---- classification ---------------------------------------------------------------------

TEST(ClientTransaction, PerRecipientOutcomes) {
    auto envelope = envelope_to({"ok@example.com", "later@example.com", "never@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    t.on_mail_reply(reply("250 2.1.0 Ok\r\n"));
    t.on_rcpt_reply(0, reply("250 2.1.5 Ok\r\n"));
    t.on_rcpt_reply(1, reply("451 4.2.0 Try later\r\n"));
    t.on_rcpt_reply(2, reply("550 5.1.1 Unknown user\r\n"));
    EXPECT_TRUE(t.should_send_body());
    t.on_data_reply(reply("354 go\r\n"));
    t.on_final_reply(reply("250 2.0.0 Ok: queued as X\r\n"));
    const auto& r = t.results();
    EXPECT_EQ(r[0].verdict, Verdict::delivered);
    EXPECT_EQ(r[0].stage, Stage::data_end);
    EXPECT_EQ(r[1].verdict, Verdict::temporary);
    EXPECT_EQ(r[1].reply.summary(), "451 4.2.0 Try later");
    EXPECT_EQ(r[2].verdict, Verdict::permanent);
    EXPECT_EQ(r[2].stage, Stage::rcpt);
    EXPECT_TRUE(r[2].remote);
}

TEST(ClientTransaction, MailRefusedDecidesEveryRecipient) {
    auto envelope = envelope_to({"a@example.com", "b@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    t.on_mail_reply(reply("553 5.7.1 Sender rejected\r\n"));
    t.on_rcpt_reply(0, reply("250 2.1.5 Ok\r\n"));  // pipelined: moot
    t.on_rcpt_reply(1, reply("503 5.5.1 need MAIL\r\n"));
    EXPECT_FALSE(t.should_send_body());
    for (const auto& result : t.results()) {
        EXPECT_EQ(result.verdict, Verdict::permanent);
        EXPECT_EQ(result.stage, Stage::mail);
        EXPECT_EQ(result.reply.code, 553);
    }
}

TEST(ClientTransaction, DataRefusedFailsOnlyAcceptedRecipients) {
    auto envelope = envelope_to({"a@example.com", "b@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    t.on_mail_reply(reply("250 ok\r\n"));
    t.on_rcpt_reply(0, reply("250 ok\r\n"));
    t.on_rcpt_reply(1, reply("550 5.1.1 no\r\n"));
    t.on_data_reply(reply("451 4.3.0 not now\r\n"));
    EXPECT_EQ(t.results()[0].verdict, Verdict::temporary);
    EXPECT_EQ(t.results()[0].stage, Stage::data);
    EXPECT_EQ(t.results()[1].verdict, Verdict::permanent);
    EXPECT_EQ(t.results()[1].stage, Stage::rcpt);
}

TEST(ClientTransaction, FinalReplyRefusalFailsAcceptedRecipients) {
    auto envelope = envelope_to({"a@example.com", "b@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    t.on_mail_reply(reply("250 ok\r\n"));
    t.on_rcpt_reply(0, reply("250 ok\r\n"));
    t.on_rcpt_reply(1, reply("250 ok\r\n"));
    t.on_data_reply(reply("354 go\r\n"));
    t.on_final_reply(reply("554 5.7.1 Spam\r\n"));
    for (const auto& result : t.results()) {
        EXPECT_EQ(result.verdict, Verdict::permanent);
        EXPECT_EQ(result.stage, Stage::data_end);
    }
}

TEST(ClientTransaction, Rcpt552TooManyRecipientsIsTemporary) {
    auto envelope = envelope_to({"a@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    t.on_mail_reply(reply("250 ok\r\n"));
    t.on_rcpt_reply(0, reply("552 5.5.3 Too many recipients\r\n"));
    EXPECT_EQ(t.results()[0].verdict, Verdict::temporary);
}

TEST(ClientTransaction, ConnectionLossMakesUndecidedRecipientsTemporary) {
    auto envelope = envelope_to({"a@example.com", "b@example.com"});
    ClientTransaction t(esmtp(), envelope, message_traits(envelope, "x\r\n"));
    t.on_mail_reply(reply("250 ok\r\n"));
    t.on_rcpt_reply(0, reply("550 5.1.1 no\r\n"));
    t.on_rcpt_reply(1, reply("250 ok\r\n"));
    t.on_data_reply(reply("354 go\r\n"));
    t.on_connection_failed(Stage::data_end, local_reply::connection_lost(Stage::data_end));
    EXPECT_EQ(t.results()[0].verdict, Verdict::permanent);
    EXPECT_EQ(t.results()[1].verdict, Verdict::temporary);
    EXPECT_EQ(t.results()[1].reply.enhanced, "4.4.2");
    EXPECT_FALSE(t.results()[1].remote);
}

TEST(EncodeXtext, EscapesPlusEqualsAndNonPrintables) {
    EXPECT_EQ(encode_xtext("a+b=c d\xc3\xa9"), "a+2Bb+3Dc+20d+C3+A9");
}

}  // namespace
}  // namespace smarthost::delivery
