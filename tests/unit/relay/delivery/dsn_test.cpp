#include "relay/delivery/dsn.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace smarthost::delivery {
namespace {

using namespace std::chrono_literals;

// 2023-11-14 22:13:20 UTC, a Tuesday.
const TimePoint received = TimePoint(std::chrono::seconds(1'700'000'000));
const TimePoint now = received + 2h;

const std::string original_headers =
    "Received: from client.example by relay.example\r\n"
    "From: Sender <sender@example.com>\r\n"
    "To: rcpt@example.org\r\n"
    "Subject: hello\r\n"
    "Message-ID: <orig@example.com>\r\n";
const std::string original_body = "First line of the body.\r\nSecond line.\r\n";
const std::string original = original_headers + "\r\n" + original_body;

// A parsed MIME entity: unfolded header fields (names lower-cased) and the body.
struct Entity {
    std::multimap<std::string, std::string> fields;
    std::string body;
    std::string field(const std::string& name) const {
        auto found = fields.find(name);
        return found == fields.end() ? std::string() : found->second;
    }
    std::size_t count(const std::string& name) const { return fields.count(name); }
};

std::string lower(std::string text) {
    for (char& c : text)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// Header fields up to the first empty line; fields are unfolded (RFC 5322 2.2.3).
Entity parse_entity(const std::string& text) {
    Entity entity;
    const std::size_t end = text.find("\r\n\r\n");
    const std::string header = end == std::string::npos ? text : text.substr(0, end + 2);
    entity.body = end == std::string::npos ? std::string() : text.substr(end + 4);
    std::string name, value;
    auto flush = [&] {
        if (!name.empty()) entity.fields.emplace(lower(name), value);
        name.clear();
        value.clear();
    };
    std::size_t pos = 0;
    while (pos < header.size()) {
        std::size_t eol = header.find("\r\n", pos);
        const std::string line = header.substr(pos, eol - pos);
        pos = eol + 2;
        if (line.empty()) continue;
        if (line[0] == ' ' || line[0] == '\t') {
            value += line;
            continue;
        }
        flush();
        const std::size_t colon = line.find(':');
        name = line.substr(0, colon);
        value = line.substr(colon + 1);
        while (!value.empty() && value[0] == ' ')
            value.erase(0, 1);
    }
    flush();
    return entity;
}

std::string boundary_of(const std::string& content_type) {
    const std::string key = "boundary=\"";
    const std::size_t start = content_type.find(key);
    if (start == std::string::npos) return {};
    const std::size_t end = content_type.find('"', start + key.size());
    return content_type.substr(start + key.size(), end - start - key.size());
}

std::vector<Entity> parts_of(const Entity& message) {
    const std::string boundary = boundary_of(message.field("content-type"));
    std::vector<Entity> parts;
    const std::string delimiter = "\r\n--" + boundary;
    std::string body = "\r\n" + message.body;
    std::size_t pos = body.find(delimiter);
    while (pos != std::string::npos) {
        const std::size_t after = pos + delimiter.size();
        if (body.compare(after, 2, "--") == 0) break;  // close delimiter
        const std::size_t start = body.find("\r\n", after) + 2;
        const std::size_t next = body.find(delimiter, start);
        if (next == std::string::npos) break;
        parts.push_back(parse_entity(body.substr(start, next - start)));
        pos = next;
    }
    return parts;
}

// The delivery-status body: per-message block, then one block per recipient.
std::vector<Entity> status_blocks(const std::string& body) {
    std::vector<Entity> blocks;
    std::size_t pos = 0;
    while (pos < body.size()) {
        std::size_t end = body.find("\r\n\r\n", pos);
        if (end == std::string::npos) end = body.size();
        std::string block = body.substr(pos, end - pos);
        if (!block.empty()) blocks.push_back(parse_entity(block + "\r\n"));
        pos = end + 4;
    }
    return blocks;
}

DsnSettings settings() {
    DsnSettings result;
    result.reporting_host = "relay.example.net";
    return result;
}

DsnOriginal original_message(smtp::DsnReturn ret = smtp::DsnReturn::unspecified) {
    DsnOriginal result;
    result.sender = "sender@Example.COM";
    result.envid = "env-42";
    result.ret = ret;
    result.received_at = received;
    result.content = original;
    return result;
}

DsnRecipient failed(std::string address, std::string notify = "") {
    DsnRecipient recipient;
    recipient.address = std::move(address);
    recipient.notify = std::move(notify);
    recipient.action = DsnAction::failed;
    recipient.remote_mta = "mx1.example.org";
    recipient.diagnostic = "550 5.1.1 <" + recipient.address + ">: Recipient address rejected";
    recipient.last_attempt = now;
    return recipient;
}

void expect_wire_format(const std::string& content) {
    std::size_t pos = 0;
    while (pos < content.size()) {
        const std::size_t eol = content.find("\r\n", pos);
        ASSERT_NE(eol, std::string::npos) << "content must end with CRLF";
        const std::string line = content.substr(pos, eol - pos);
        EXPECT_LE(line.size(), 998u);
        EXPECT_EQ(line.find('\r'), std::string::npos) << "bare CR in: " << line;
        EXPECT_EQ(line.find('\n'), std::string::npos) << "bare LF in: " << line;
        pos = eol + 2;
    }
}

TEST(Dsn, IsAMultipartReportWithTheRequiredHeaders) {
    auto dsn = build_dsn(settings(), original_message(), {failed("rcpt@example.org")}, now, "tok1");
    ASSERT_TRUE(dsn);
    expect_wire_format(dsn->content);
    const Entity message = parse_entity(dsn->content);
    EXPECT_EQ(message.field("from"), "Mail Delivery System <MAILER-DAEMON@relay.example.net>");
    EXPECT_EQ(message.field("to"), "<sender@Example.COM>");
    EXPECT_EQ(message.field("subject"), "Undelivered Mail Returned to Sender");
    EXPECT_EQ(message.field("date"), "Wed, 15 Nov 2023 00:13:20 +0000");
    EXPECT_EQ(message.field("message-id"), "<tok1@relay.example.net>");
    EXPECT_EQ(message.field("auto-submitted"), "auto-replied");
    EXPECT_EQ(message.field("mime-version"), "1.0");
    const std::string type = message.field("content-type");
    EXPECT_EQ(type.find("multipart/report;"), 0u) << type;
    EXPECT_NE(type.find("report-type=delivery-status"), std::string::npos) << type;
    EXPECT_EQ(dsn->message_id, "<tok1@relay.example.net>");

    const auto parts = parts_of(message);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0].field("content-type"), "text/plain; charset=us-ascii");
    EXPECT_NE(parts[0].body.find("rcpt@example.org"), std::string::npos);
    EXPECT_EQ(parts[1].field("content-type"), "message/delivery-status");
    EXPECT_EQ(parts[2].field("content-type"), "text/rfc822-headers");
    EXPECT_NE(dsn->content.find("\r\n--" + boundary_of(type) + "--\r\n"), std::string::npos);
}

TEST(Dsn, EnvelopeGoesFromTheNullSenderToTheOriginalSender) {
    auto dsn = build_dsn(settings(), original_message(), {failed("rcpt@example.org")}, now, "t");
    ASSERT_TRUE(dsn);
    EXPECT_EQ(dsn->envelope.sender, "");
    ASSERT_EQ(dsn->envelope.recipients.size(), 1u);
    EXPECT_EQ(dsn->envelope.recipients[0].address, "sender@Example.COM");
    EXPECT_EQ(dsn->envelope.recipients[0].domain, "example.com");
    EXPECT_EQ(dsn->envelope.recipients[0].notify, "");
    EXPECT_EQ(dsn->envelope.body, smtp::BodyType::seven_bit);
    EXPECT_FALSE(dsn->envelope.smtputf8);
}

TEST(Dsn, DeliveryStatusHasPerMessageAndPerRecipientFields) {
    DsnRecipient first = failed("one@example.org");
    first.orcpt = "rfc822;One@Example.org";
    DsnRecipient second = failed("two@example.net");
    second.remote_mta = "";
    second.diagnostic = "";
    second.status = "5.4.4";
    auto dsn = build_dsn(settings(), original_message(), {first, second}, now, "t");
    ASSERT_TRUE(dsn);
    const auto parts = parts_of(parse_entity(dsn->content));
    ASSERT_EQ(parts.size(), 3u);
    const auto blocks = status_blocks(parts[1].body);
    ASSERT_EQ(blocks.size(), 3u);
    EXPECT_EQ(blocks[0].field("original-envelope-id"), "env-42");
    EXPECT_EQ(blocks[0].field("reporting-mta"), "dns; relay.example.net");
    EXPECT_EQ(blocks[0].field("arrival-date"), "Tue, 14 Nov 2023 22:13:20 +0000");

    EXPECT_EQ(blocks[1].field("original-recipient"), "rfc822;One@Example.org");
    EXPECT_EQ(blocks[1].field("final-recipient"), "rfc822;one@example.org");
    EXPECT_EQ(blocks[1].field("action"), "failed");
    EXPECT_EQ(blocks[1].field("status"), "5.1.1");
    EXPECT_EQ(blocks[1].field("remote-mta"), "dns; mx1.example.org");
    EXPECT_EQ(blocks[1].field("diagnostic-code"),
              "smtp; 550 5.1.1 <one@example.org>: Recipient address rejected");
    EXPECT_EQ(blocks[1].field("last-attempt-date"), "Wed, 15 Nov 2023 00:13:20 +0000");

    EXPECT_EQ(blocks[2].count("original-recipient"), 0u);
    EXPECT_EQ(blocks[2].field("final-recipient"), "rfc822;two@example.net");
    EXPECT_EQ(blocks[2].field("status"), "5.4.4");
    EXPECT_EQ(blocks[2].count("remote-mta"), 0u);
    EXPECT_EQ(blocks[2].count("diagnostic-code"), 0u);
    EXPECT_EQ(dsn->reported, (std::vector<std::string>{"one@example.org", "two@example.net"}));
}

TEST(Dsn, NoEnvidMeansNoOriginalEnvelopeId) {
    DsnOriginal message = original_message();
    message.envid.clear();
    auto dsn = build_dsn(settings(), message, {failed("rcpt@example.org")}, now, "t");
    ASSERT_TRUE(dsn);
    const auto blocks = status_blocks(parts_of(parse_entity(dsn->content))[1].body);
    EXPECT_EQ(blocks[0].count("original-envelope-id"), 0u);
}

TEST(Dsn, HeadersOnlyByDefaultAndForRetHdrs) {
    for (auto ret : {smtp::DsnReturn::unspecified, smtp::DsnReturn::headers}) {
        auto dsn =
            build_dsn(settings(), original_message(ret), {failed("rcpt@example.org")}, now, "t");
        ASSERT_TRUE(dsn);
        const auto parts = parts_of(parse_entity(dsn->content));
        ASSERT_EQ(parts.size(), 3u);
        EXPECT_EQ(parts[2].field("content-type"), "text/rfc822-headers");
        EXPECT_EQ(parts[2].body, original_headers);
        EXPECT_EQ(dsn->content.find("First line of the body"), std::string::npos);
    }
}

TEST(Dsn, WholeMessageForRetFull) {
    auto dsn = build_dsn(settings(), original_message(smtp::DsnReturn::full),
                         {failed("rcpt@example.org")}, now, "t");
    ASSERT_TRUE(dsn);
    const auto parts = parts_of(parse_entity(dsn->content));
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[2].field("content-type"), "message/rfc822");
    EXPECT_EQ(parts[2].count("content-transfer-encoding"), 0u);
    const Entity returned = parse_entity(parts[2].body);
    EXPECT_EQ(returned.field("message-id"), "<orig@example.com>");
    EXPECT_EQ(returned.body, original_body);
}

TEST(Dsn, RetFullOfAHugeMessageReturnsOnlyItsHeaders) {
    DsnSettings small = settings();
    small.full_content_limit = 100;
    auto dsn = build_dsn(small, original_message(smtp::DsnReturn::full),
                         {failed("rcpt@example.org")}, now, "t");
    ASSERT_TRUE(dsn);
    EXPECT_EQ(parts_of(parse_entity(dsn->content))[2].field("content-type"), "text/rfc822-headers");
}

TEST(Dsn, EightBitOriginalIsMarkedAndNeeds8BitMime) {
    const std::string content = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve body\r\n";
    DsnOriginal message = original_message(smtp::DsnReturn::full);
    message.content = content;
    auto dsn = build_dsn(settings(), message, {failed("rcpt@example.org")}, now, "t");
    ASSERT_TRUE(dsn);
    expect_wire_format(dsn->content);
    const auto parts = parts_of(parse_entity(dsn->content));
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[2].field("content-transfer-encoding"), "8bit");
    EXPECT_EQ(parts[2].body, content);
    EXPECT_EQ(parts[0].field("content-type"), "text/plain; charset=us-ascii");
    EXPECT_EQ(dsn->envelope.body, smtp::BodyType::eight_bit_mime);

    message.ret = smtp::DsnReturn::headers;
    dsn = build_dsn(settings(), message, {failed("rcpt@example.org")}, now, "t");
    ASSERT_TRUE(dsn);
    const auto header_parts = parts_of(parse_entity(dsn->content));
    EXPECT_EQ(header_parts[2].field("content-transfer-encoding"), "8bit");
    EXPECT_EQ(header_parts[2].body, "Subject: caf\xc3\xa9\r\n");
    EXPECT_EQ(dsn->envelope.body, smtp::BodyType::eight_bit_mime);
}

TEST(Dsn, NullSenderNeverGetsADsn) {
    DsnOriginal message = original_message();
    message.sender = "";
    EXPECT_FALSE(build_dsn(settings(), message, {failed("rcpt@example.org")}, now, "t"));
}

TEST(Dsn, NotifyNeverOrWithoutFailureSuppressesThatRecipient) {
    auto dsn =
        build_dsn(settings(), original_message(),
                  {failed("never@example.org", "NEVER"), failed("success@example.org", "SUCCESS"),
                   failed("delay@example.org", "SUCCESS,DELAY"),
                   failed("failure@example.org", "SUCCESS,FAILURE"), failed("default@example.org")},
                  now, "t");
    ASSERT_TRUE(dsn);
    EXPECT_EQ(dsn->reported,
              (std::vector<std::string>{"failure@example.org", "default@example.org"}));
    const auto blocks = status_blocks(parts_of(parse_entity(dsn->content))[1].body);
    ASSERT_EQ(blocks.size(), 3u);
    EXPECT_EQ(blocks[1].field("final-recipient"), "rfc822;failure@example.org");
    EXPECT_EQ(blocks[2].field("final-recipient"), "rfc822;default@example.org");
    EXPECT_EQ(dsn->content.find("never@example.org"), std::string::npos);
}

TEST(Dsn, NoDsnWhenNoRecipientAsksForOne) {
    EXPECT_FALSE(build_dsn(settings(), original_message(),
                           {failed("a@example.org", "NEVER"), failed("b@example.org", "DELAY")},
                           now, "t"));
    EXPECT_FALSE(build_dsn(settings(), original_message(), {}, now, "t"));
}

TEST(Dsn, NotifyRules) {
    EXPECT_TRUE(notify_requests("", DsnAction::failed));
    EXPECT_TRUE(notify_requests("", DsnAction::delayed));
    EXPECT_FALSE(notify_requests("", DsnAction::delivered));
    EXPECT_FALSE(notify_requests("NEVER", DsnAction::failed));
    EXPECT_TRUE(notify_requests("success,failure", DsnAction::failed));
    EXPECT_TRUE(notify_requests("SUCCESS", DsnAction::delivered));
    EXPECT_FALSE(notify_requests("FAILURE", DsnAction::delayed));
    EXPECT_TRUE(notify_requests("FAILURE,DELAY", DsnAction::delayed));
    // Relayed is a success report: only on request.
    EXPECT_FALSE(notify_requests("", DsnAction::relayed));
    EXPECT_FALSE(notify_requests("FAILURE,DELAY", DsnAction::relayed));
    EXPECT_TRUE(notify_requests("SUCCESS", DsnAction::relayed));
}

TEST(Dsn, RelayedReport) {
    DsnRecipient relayed = failed("far@example.org", "SUCCESS");
    relayed.action = DsnAction::relayed;
    relayed.remote_mta = "mx.example.org";
    relayed.diagnostic = "250 2.0.0 queued";
    const auto dsn = build_dsn(settings(), original_message(), {relayed}, now, "t");
    ASSERT_TRUE(dsn);
    EXPECT_EQ(parse_entity(dsn->content).field("subject"), "Successful Mail Delivery Report");
    const auto blocks = status_blocks(parts_of(parse_entity(dsn->content))[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[1].field("action"), "relayed");
    EXPECT_EQ(blocks[1].field("status"), "2.0.0");
    EXPECT_NE(dsn->content.find("which do not send delivery reports"), std::string::npos);
}

TEST(Dsn, DelayedAndSuccessReports) {
    DsnRecipient delayed = failed("slow@example.org", "DELAY");
    delayed.action = DsnAction::delayed;
    delayed.diagnostic = "451 4.7.1 try later";
    delayed.will_retry_until = received + 5 * 24h;
    DsnRecipient delivered = failed("ok@example.org", "SUCCESS");
    delivered.action = DsnAction::delivered;
    delivered.diagnostic = "250 2.0.0 ok";
    auto dsn = build_dsn(settings(), original_message(), {delayed}, now, "t");
    ASSERT_TRUE(dsn);
    EXPECT_EQ(parse_entity(dsn->content).field("subject"), "Delayed Mail (still being retried)");
    auto blocks = status_blocks(parts_of(parse_entity(dsn->content))[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[1].field("action"), "delayed");
    EXPECT_EQ(blocks[1].field("status"), "4.7.1");
    EXPECT_EQ(blocks[1].field("will-retry-until"), "Sun, 19 Nov 2023 22:13:20 +0000");

    dsn = build_dsn(settings(), original_message(), {delivered}, now, "t");
    ASSERT_TRUE(dsn);
    EXPECT_EQ(parse_entity(dsn->content).field("subject"), "Successful Mail Delivery Report");
    blocks = status_blocks(parts_of(parse_entity(dsn->content))[1].body);
    EXPECT_EQ(blocks[1].field("action"), "delivered");
    EXPECT_EQ(blocks[1].field("status"), "2.0.0");
}

TEST(Dsn, HostileDiagnosticCannotInjectFieldsOrLongLines) {
    DsnRecipient recipient = failed("rcpt@example.org");
    recipient.diagnostic = "550-5.7.1 first line\r\n550 5.7.1 Action: delivered\r\n" +
                           std::string(3000, 'x') + " tail";
    auto dsn = build_dsn(settings(), original_message(), {recipient}, now, "t");
    ASSERT_TRUE(dsn);
    expect_wire_format(dsn->content);
    const auto blocks = status_blocks(parts_of(parse_entity(dsn->content))[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[1].count("action"), 1u);
    EXPECT_EQ(blocks[1].field("action"), "failed");
    EXPECT_EQ(blocks[1].field("status"), "5.7.1");
    const std::string diagnostic = blocks[1].field("diagnostic-code");
    EXPECT_EQ(diagnostic.find("smtp; 550-5.7.1 first line 550 5.7.1 Action: delivered"), 0u);
    EXPECT_NE(diagnostic.find("tail"), std::string::npos);
}

TEST(Dsn, OriginalWithLongLinesAndBareLineFeedsIsMadeWireSafe) {
    const std::string content = "Subject: x\n\n" + std::string(2500, 'y') + "\nend";
    DsnOriginal message = original_message(smtp::DsnReturn::full);
    message.content = content;
    auto dsn = build_dsn(settings(), message, {failed("rcpt@example.org")}, now, "t");
    ASSERT_TRUE(dsn);
    expect_wire_format(dsn->content);
    EXPECT_EQ(parts_of(parse_entity(dsn->content)).size(), 3u);
}

TEST(Dsn, BoundaryNeverOccursInTheContent) {
    const std::string content = "Subject: x\r\n\r\n--=_smarthost_tok\r\n";
    DsnOriginal message = original_message(smtp::DsnReturn::full);
    message.content = content;
    auto dsn = build_dsn(settings(), message, {failed("rcpt@example.org")}, now, "tok");
    ASSERT_TRUE(dsn);
    const Entity parsed = parse_entity(dsn->content);
    const std::string boundary = boundary_of(parsed.field("content-type"));
    EXPECT_NE(boundary, "=_smarthost_tok");
    EXPECT_EQ(content.find(boundary), std::string::npos);
    const auto parts = parts_of(parsed);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parse_entity(parts[2].body).body, "--=_smarthost_tok\r\n");
}

TEST(Dsn, StatusOfReply) {
    EXPECT_EQ(status_of_reply("550 5.1.1 no such user"), "5.1.1");
    EXPECT_EQ(status_of_reply("451-4.7.1 greylisted"), "4.7.1");
    EXPECT_EQ(status_of_reply("250 2.0.0"), "2.0.0");
    EXPECT_EQ(status_of_reply("554 transaction failed"), "5.0.0");
    EXPECT_EQ(status_of_reply("421 4.4.2 "), "4.4.2");
    EXPECT_EQ(status_of_reply("550 4.1.1 mismatched class"), "5.0.0");
    EXPECT_EQ(status_of_reply("550 5.1 short"), "5.0.0");
    EXPECT_EQ(status_of_reply("connection refused"), "");
    EXPECT_EQ(status_of_reply("99"), "");
    EXPECT_EQ(status_of_reply("354 go ahead"), "");
}

}  // namespace
}  // namespace smarthost::delivery
