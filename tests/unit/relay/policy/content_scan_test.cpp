#include "relay/policy/content_scan.hpp"

#include <gtest/gtest.h>

#include <string>

namespace smarthost::policy {
namespace {

ScanEnvelope envelope() {
    ScanEnvelope e;
    e.user = "alice";
    e.client_ip = "192.0.2.7";
    e.helo = "web1.example.net";
    e.sender = "alice@example.org";
    e.recipients = {"bob@example.com", "carol@example.net"};
    e.queue_id = "0190c2f7a1b27c3d8e9f0a1b2c3d4e5f";
    return e;
}

TEST(ContentScanRequest, HasUserIpHeloFromEachRcptAndQueueIdInOrder) {
    const auto fields = checkv2_fields(envelope());
    const std::vector<std::pair<std::string, std::string>> expected{
        {"User", "alice"},
        {"IP", "192.0.2.7"},
        {"Helo", "web1.example.net"},
        {"From", "alice@example.org"},
        {"Rcpt", "bob@example.com"},
        {"Rcpt", "carol@example.net"},
        {"Queue-Id", "0190c2f7a1b27c3d8e9f0a1b2c3d4e5f"}};
    EXPECT_EQ(fields, expected);
}

TEST(ContentScanRequest, AllowListedNetworkHasNoUserAndNullSenderIsAngleBrackets) {
    auto e = envelope();
    e.user.clear();
    e.sender.clear();
    const auto fields = checkv2_fields(e);
    EXPECT_EQ(fields.front().first, "IP");
    EXPECT_EQ(fields[2], (std::pair<std::string, std::string>{"From", "<>"}));
}

TEST(ContentScanRequest, ControlCharactersCannotAddAField) {
    auto e = envelope();
    e.helo = "evil\r\nUser: admin";
    e.recipients = {std::string("bob@example.com\0x", 17), "a\tb@example.com"};
    for (const auto& [name, value] : checkv2_fields(e)) {
        EXPECT_EQ(value.find_first_of(std::string("\r\n\t\0", 4)), std::string::npos) << value;
    }
    EXPECT_EQ(checkv2_fields(e)[2].second, "evilUser: admin");
}

constexpr const char* k_gtube_answer =
    R"({"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject",)"
    R"("symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},)"
    R"("messages":{"smtp_message":"Gtube pattern"},"message-id":"undef"})";

TEST(ContentScanAnswer, ReadsRspamdsAnswer) {
    const auto answer = parse_checkv2_answer(k_gtube_answer);
    ASSERT_TRUE(answer);
    EXPECT_DOUBLE_EQ(answer->score, 15.0);
    EXPECT_EQ(answer->required_score, 15.0);
    EXPECT_EQ(answer->action, "reject");
    ASSERT_EQ(answer->symbols.size(), 1U);
    EXPECT_EQ(answer->symbols[0].name, "GTUBE");
}

TEST(ContentScanAnswer, IntegerScoresAreScores) {
    const auto answer = parse_checkv2_answer(R"({"score":3,"symbols":{"A":{"score":-1}}})");
    ASSERT_TRUE(answer);
    EXPECT_DOUBLE_EQ(answer->score, 3);
    EXPECT_DOUBLE_EQ(answer->symbols.at(0).score, -1);
}

TEST(ContentScanAnswer, GarbageIsNoAnswer) {
    for (const char* body :
         {"", "not json", "[]", "null", "15", R"("score")", R"({"score":"15"})", R"({})",
          R"({"score":null})", R"({"score":1e400})", R"({"score":1e300})", R"({"score":-5000})",
          R"({"score":true})", R"({"score":1,)", R"({"score":1}{"score":2})"}) {
        EXPECT_FALSE(parse_checkv2_answer(body)) << body;
    }
}

TEST(ContentScanAnswer, DeepNestingIsNoAnswer) {
    std::string deep = R"({"score":1,"x":)";
    for (int i = 0; i < 10000; ++i)
        deep += "[";
    EXPECT_FALSE(parse_checkv2_answer(deep));
}

TEST(ContentScanAnswer, HostileSymbolsAreDroppedNotTrusted) {
    const std::string long_name(65, 'A');
    const auto answer = parse_checkv2_answer(
        R"({"score":5,"action":"add header\r\nX-Evil: 1","symbols":{)"
        R"("GOOD_ONE":{"score":2.5},"BAD NAME":{"score":1},"CRLF\r\nX":{"score":1},)"
        R"(")" +
        long_name +
        R"(":{"score":1},"NOT_OBJECT":7,"NO_SCORE":{},)"
        R"("HUGE":{"score":1e308}}})");
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->action, "add headerXEvil ");
    std::vector<std::string> names;
    for (const auto& symbol : answer->symbols)
        names.push_back(symbol.name);
    EXPECT_EQ(names, (std::vector<std::string>{"GOOD_ONE", "HUGE", "NO_SCORE"}));
}

TEST(ContentScanAnswer, SymbolsAreBoundedToTheStrongest) {
    std::string body = R"({"score":1,"symbols":{)";
    for (int i = 0; i < 500; ++i)
        body += (i ? "," : "") + std::string("\"S") + std::to_string(i) +
                "\":{\"score\":" + std::to_string(i) + "}";
    body += "}}";
    const auto answer = parse_checkv2_answer(body);
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->symbols.size(), k_max_symbols);
    EXPECT_EQ(answer->symbols.front().name, "S499");
    EXPECT_LE(symbols_json(*answer).size(), 8192U);
}

TEST(ContentScanDecision, TheStrongestReachedThresholdWins) {
    const ScanThresholds t{6.0, 10.0, 15.0};
    EXPECT_EQ(decide(-3, t), ScanAction::accept);
    EXPECT_EQ(decide(5.99, t), ScanAction::accept);
    EXPECT_EQ(decide(6, t), ScanAction::add_header);
    EXPECT_EQ(decide(10, t), ScanAction::hold);
    EXPECT_EQ(decide(14.9, t), ScanAction::hold);
    EXPECT_EQ(decide(15, t), ScanAction::reject);
    EXPECT_EQ(decide(999, t), ScanAction::reject);
}

TEST(ContentScanDecision, UnsetThresholdsAreNeverTaken) {
    EXPECT_EQ(decide(999, {}), ScanAction::accept);
    EXPECT_EQ(decide(20, ScanThresholds{std::nullopt, 10.0, std::nullopt}), ScanAction::hold);
}

TEST(ContentScanDecision, AccountThresholdsOverrideTheDefaultsOneByOne) {
    const ScanThresholds defaults{6.0, std::nullopt, 15.0};
    const auto merged = merge_thresholds(ScanThresholds{std::nullopt, 8.0, 30.0}, defaults);
    EXPECT_EQ(merged.add_header, 6.0);
    EXPECT_EQ(merged.hold, 8.0);
    EXPECT_EQ(merged.reject, 30.0);
    EXPECT_EQ(decide(15, merged), ScanAction::hold);
}

TEST(ContentScanHeader, SaysScoreStatusAndSymbols) {
    const auto answer = parse_checkv2_answer(R"({"score":7.2,"symbols":{"A":{"score":5}}})");
    const auto fields = spam_header_fields(*answer, ScanAction::add_header, {6.0, {}, 15.0});
    EXPECT_EQ(fields,
              "X-Spam-Score: 7.20\r\nX-Spam-Status: Yes, score=7.20 required=6.00\r\n"
              "X-Spam-Symbols: A(5.00)\r\n");
}

TEST(ContentScanHeader, HeldReasonNamesScoreAndThreshold) {
    const auto answer = parse_checkv2_answer(R"({"score":15})");
    EXPECT_EQ(held_reason(*answer, {6.0, 10.0, 20.0}),
              "held for review: spam score 15.00 reached the hold threshold 10.00");
}

}  // namespace
}  // namespace smarthost::policy
