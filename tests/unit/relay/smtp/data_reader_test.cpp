#include "relay/smtp/data_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace smarthost::smtp {
namespace {

struct Outcome {
    bool finished = false;
    DataResult result = DataResult::ok;
    std::string body;
    std::size_t used = 0;  // octets consumed in total
    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Outcome& o) {
    return out << "{finished=" << o.finished << " result=" << static_cast<int>(o.result)
               << " used=" << o.used << " body=" << testing::PrintToString(o.body) << "}";
}

constexpr std::uint64_t k_max_message = 1000;
constexpr std::size_t k_max_line = 20;

// Feeds the pieces in order, as the I/O layer would; stops offering input once finished.
Outcome feed(const std::vector<std::string_view>& pieces, std::uint64_t max_message = k_max_message,
             std::size_t max_line = k_max_line) {
    DataReader reader(max_message, max_line);
    Outcome outcome;
    for (auto piece : pieces) {
        if (reader.finished()) break;
        std::size_t used = reader.consume(piece);
        EXPECT_LE(used, piece.size());
        if (!reader.finished()) {
            EXPECT_EQ(used, piece.size());
        }
        outcome.used += used;
    }
    outcome.finished = reader.finished();
    outcome.result = reader.result();
    EXPECT_EQ(reader.octets(), outcome.used);
    outcome.body = reader.take_body();
    return outcome;
}

// Reads `input` whole, split in two at every position, and one octet at a time, and
// checks all of them agree before returning the outcome.
Outcome read_everywhere(std::string_view input, std::uint64_t max_message = k_max_message,
                        std::size_t max_line = k_max_line) {
    Outcome whole = feed({input}, max_message, max_line);
    for (std::size_t split = 0; split <= input.size(); ++split) {
        EXPECT_EQ(feed({input.substr(0, split), input.substr(split)}, max_message, max_line), whole)
            << "split at " << split;
    }
    std::vector<std::string_view> octets;
    for (std::size_t i = 0; i < input.size(); ++i)
        octets.push_back(input.substr(i, 1));
    EXPECT_EQ(feed(octets, max_message, max_line), whole) << "one octet at a time";
    return whole;
}

TEST(DataReader, EndsOnCrlfDotCrlfAndKeepsTheLastCrlf) {
    auto o = read_everywhere("Subject: x\r\n\r\nbody\r\n.\r\n");
    EXPECT_TRUE(o.finished);
    EXPECT_EQ(o.result, DataResult::ok);
    EXPECT_EQ(o.body, "Subject: x\r\n\r\nbody\r\n");
}

TEST(DataReader, DotLineRightAwayEndsAnEmptyMessage) {
    auto o = read_everywhere(".\r\n");
    EXPECT_TRUE(o.finished);
    EXPECT_EQ(o.result, DataResult::ok);
    EXPECT_EQ(o.body, "");
}

TEST(DataReader, StopsRightAfterTheTerminatorLeavingPipelinedBytes) {
    const std::string input = "a\r\n.\r\nQUIT\r\n";
    auto o = read_everywhere(input);
    EXPECT_TRUE(o.finished);
    EXPECT_EQ(o.used, input.size() - 6);
    EXPECT_EQ(o.body, "a\r\n");
}

TEST(DataReader, UnstuffsLeadingDots) {
    auto o = read_everywhere("..\r\n..x\r\n.y\r\nz.\r\n...\r\n.\r\n");
    EXPECT_EQ(o.result, DataResult::ok);
    EXPECT_EQ(o.body, ".\r\n.x\r\ny\r\nz.\r\n..\r\n");
}

TEST(DataReader, NoTerminatorMeansNotFinished) {
    for (const char* input :
         {"abc", "abc\r\n", "abc\r\n.", "abc\r\n.\r", "x.\r\n", "a\r\n .\r\n", "a\r\n..\r\n"}) {
        auto o = read_everywhere(input);
        EXPECT_FALSE(o.finished) << testing::PrintToString(std::string(input));
    }
}

TEST(DataReader, SmugglingTerminatorsDoNotEndTheData) {
    // Each false terminator is followed by a smuggled command and then the real end.
    for (const char* fake : {"\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\n..\r\n"}) {
        std::string input = std::string("a") + fake + "MAIL FROM:<x@y>\r\n.\r\n";
        auto o = read_everywhere(input, k_max_message, 100);
        EXPECT_TRUE(o.finished) << testing::PrintToString(std::string(fake));
        EXPECT_EQ(o.used, input.size()) << testing::PrintToString(std::string(fake));
        EXPECT_NE(o.result, DataResult::ok) << testing::PrintToString(std::string(fake));
        EXPECT_EQ(o.body, "");
    }
}

TEST(DataReader, BareLfIsReported) {
    EXPECT_EQ(read_everywhere("a\nb\r\n.\r\n").result, DataResult::bare_lf);
    EXPECT_EQ(read_everywhere("\n.\r\n.\r\n").result, DataResult::bare_lf);
}

TEST(DataReader, BareCrIsReported) {
    EXPECT_EQ(read_everywhere("a\rb\r\n.\r\n").result, DataResult::bare_cr);
    EXPECT_EQ(read_everywhere("a\r\r\n.\r\n").result, DataResult::bare_cr);
    EXPECT_EQ(read_everywhere(".\rx\r\n.\r\n").result, DataResult::bare_cr);
}

TEST(DataReader, NulIsReported) {
    using namespace std::string_literals;
    auto o = read_everywhere("a\0b\r\n.\r\n"s);
    EXPECT_TRUE(o.finished);
    EXPECT_EQ(o.result, DataResult::nul);
}

TEST(DataReader, FirstProblemWins) {
    using namespace std::string_literals;
    EXPECT_EQ(read_everywhere("a\nb\rc\0\r\n.\r\n"s).result, DataResult::bare_lf);
    EXPECT_EQ(read_everywhere("\0a\nb\r\n.\r\n"s).result, DataResult::nul);
}

TEST(DataReader, FirstProblemIsTheSameForEveryChunking) {
    // Regression (found by fuzz_data_reader): a run that crosses both limits reports the
    // one an octet-by-octet reader meets first.
    EXPECT_EQ(read_everywhere("abcdefghijkl\r\n.\r\n", 5, 10).result, DataResult::too_big);
    EXPECT_EQ(read_everywhere("abcdefghijkl\r\n.\r\n", 8, 6).result, DataResult::line_too_long);
}

TEST(DataReader, LineLimitIncludesCrlf) {
    std::string fits(k_max_line - 2, 'x');
    auto ok = read_everywhere(fits + "\r\n.\r\n");
    EXPECT_EQ(ok.result, DataResult::ok);
    EXPECT_EQ(ok.body, fits + "\r\n");
    auto too_long = read_everywhere(fits + "x\r\n.\r\n");
    EXPECT_TRUE(too_long.finished);
    EXPECT_EQ(too_long.result, DataResult::line_too_long);
    // A stuffed dot is part of the line on the wire.
    EXPECT_EQ(read_everywhere("." + fits + "\r\n.\r\n").result, DataResult::line_too_long);
}

TEST(DataReader, LongLineIsDetectedWithoutItsEnd) {
    DataReader reader(k_max_message, k_max_line);
    reader.consume(std::string(100, 'x'));
    EXPECT_EQ(reader.result(), DataResult::line_too_long);
    EXPECT_FALSE(reader.finished());
}

TEST(DataReader, SizeLimitCountsUnstuffedBody) {
    std::string line = "..xxxxxxx\r\n";  // 10 body octets after unstuffing
    std::string exact;
    for (int i = 0; i < 10; ++i)
        exact += line;
    auto ok = read_everywhere(exact + ".\r\n", 100);
    EXPECT_EQ(ok.result, DataResult::ok);
    EXPECT_EQ(ok.body.size(), 100u);
    auto too_big = read_everywhere(exact + "x\r\n.\r\n", 100);
    EXPECT_TRUE(too_big.finished);
    EXPECT_EQ(too_big.result, DataResult::too_big);
    EXPECT_EQ(too_big.body, "");
}

TEST(DataReader, KeepsScanningAfterAProblemWithBoundedMemory) {
    DataReader reader(10, 1000);
    std::string chunk = std::string(500, 'x') + "\r\n";
    for (int i = 0; i < 1000; ++i)
        ASSERT_EQ(reader.consume(chunk), chunk.size());
    EXPECT_EQ(reader.result(), DataResult::too_big);
    EXPECT_EQ(reader.consume(".\r\nNOOP\r\n"), 3u);
    EXPECT_TRUE(reader.finished());
    EXPECT_EQ(reader.take_body(), "");
}

TEST(DataReader, ConsumesNothingOnceFinished) {
    DataReader reader(k_max_message, k_max_line);
    EXPECT_EQ(reader.consume(".\r\n"), 3u);
    EXPECT_EQ(reader.consume("more\r\n.\r\n"), 0u);
}

TEST(DataReader, EveryShortInputAgreesAcrossSplits) {
    // All strings of length <= 6 over the octets that matter agree across every split,
    // and finish exactly after the first CRLF.CRLF (or a ".\r\n" at the very start).
    const std::string alphabet = std::string("\r\n.a") + '\0';
    std::vector<std::string> inputs{""};
    for (int length = 1; length <= 6; ++length) {
        std::vector<std::string> next;
        for (const auto& prefix : inputs) {
            if (static_cast<int>(prefix.size()) != length - 1) continue;
            for (char c : alphabet)
                next.push_back(prefix + c);
        }
        for (auto& input : next) {
            auto o = read_everywhere(input, 1000, 1000);
            std::size_t expected_end = std::string::npos;
            if (input.starts_with(".\r\n")) {
                expected_end = 3;
            } else if (auto at = input.find("\r\n.\r\n"); at != std::string::npos) {
                expected_end = at + 5;
            }
            EXPECT_EQ(o.finished, expected_end != std::string::npos)
                << testing::PrintToString(input);
            if (o.finished) {
                EXPECT_EQ(o.used, expected_end) << testing::PrintToString(input);
            }
        }
        inputs.insert(inputs.end(), next.begin(), next.end());
    }
}

// Issue 11 point 14: the body is received behind the relay's own fields, in one buffer.
TEST(DataReader, TheBodyFollowsItsPrefixWhichIsNotCountedAgainstTheSizeLimit) {
    DataReader reader(10, 1000);
    reader.start_with("Received: by relay\r\n");
    const std::string input = "0123456\r\n.\r\n";  // 9 octets of body: within 10
    EXPECT_EQ(reader.consume(input), input.size());
    ASSERT_TRUE(reader.finished());
    EXPECT_EQ(reader.result(), DataResult::ok);
    EXPECT_EQ(reader.take_body(), "Received: by relay\r\n0123456\r\n");
}

TEST(DataReader, EveryGrowthOfTheBufferIsAskedForAndItHoldsAtMostAQuarterMoreThanTheBody) {
    std::uint64_t granted = 0;
    std::uint64_t most_granted = 0;
    DataReader reader(64 << 20, 2000);
    reader.limit_storage([&](std::uint64_t bytes) {
        granted = bytes;
        most_granted = std::max(most_granted, bytes);
        return true;
    });
    const std::string line(998, 'x');
    const std::string crlf_line = line + "\r\n";
    std::size_t body = 0;
    for (int i = 0; i < 8000; ++i) {  // 8 MB
        reader.consume(crlf_line);
        body += crlf_line.size();
        EXPECT_EQ(granted, reader.held());
    }
    reader.consume(".\r\n");
    ASSERT_TRUE(reader.finished());
    EXPECT_EQ(reader.result(), DataResult::ok);
    EXPECT_LE(reader.held(), body + body / 4 + 64 * 1024);
    // While growing, the old buffer and the new one are held at once, and asked for so.
    EXPECT_GT(most_granted, reader.held());
    EXPECT_EQ(reader.take_body().size(), body);
}

// One buffer of the declared size, never copied; charged as it is written (2 to 4 MiB
// ahead, as huge pages are resident whole), so SIZE= alone cannot hold memory the client
// never sends.
TEST(DataReader, ADeclaredSizeIsTakenAtOnceAndChargedAsItIsWritten) {
    constexpr std::uint64_t ahead = 2 * 1024 * 1024;
    std::uint64_t granted = 0;
    DataReader reader(64 << 20, 2000);
    reader.limit_storage([&](std::uint64_t bytes) {
        granted = bytes;
        return true;
    });
    const std::string prefix = "Received: by relay\r\n";
    reader.start_with(prefix);
    const std::string crlf_line = std::string(998, 'x') + "\r\n";
    const std::size_t body = 8000 * crlf_line.size();  // 8 MB
    reader.expect_size(body);
    EXPECT_EQ(reader.held(), prefix.size() + 2 * ahead);  // not the 8 MB
    std::size_t written = prefix.size();
    for (int i = 0; i < 8000; ++i) {
        reader.consume(crlf_line);
        written += crlf_line.size();
        const std::uint64_t whole = prefix.size() + body;
        ASSERT_GE(reader.held(), std::min<std::uint64_t>(written + ahead, whole));
        ASSERT_LE(reader.held(), std::min<std::uint64_t>(written + 2 * ahead, whole));
        ASSERT_EQ(granted, reader.held());
    }
    reader.consume(".\r\n");
    ASSERT_TRUE(reader.finished());
    EXPECT_EQ(reader.result(), DataResult::ok);
    const std::string stored = reader.take_body();
    EXPECT_EQ(stored.size(), prefix.size() + body);
    EXPECT_EQ(stored.capacity(), prefix.size() + body);  // the one buffer, never regrown
}

TEST(DataReader, ADeclaredSizeOverTheLimitOrNotGrantedIsNotTaken) {
    DataReader too_big(1 << 20, 2000);
    too_big.expect_size(2 << 20);
    EXPECT_LT(too_big.held(), 64 * 1024);

    DataReader refused(64 << 20, 2000);
    refused.limit_storage([](std::uint64_t bytes) { return bytes < 1024 * 1024; });
    refused.start_with("Received: by relay\r\n");
    refused.expect_size(8 << 20);
    EXPECT_LT(refused.held(), 64 * 1024);
    // The body still arrives, growing as it comes.
    refused.consume("Subject: small\r\n\r\nhello\r\n.\r\n");
    ASSERT_TRUE(refused.finished());
    EXPECT_EQ(refused.result(), DataResult::ok);
}

TEST(DataReader, ARefusedGrowthDropsTheBodyReadsToTheEndAndGivesTheMemoryBack) {
    std::uint64_t granted = 0;
    DataReader reader(64 << 20, 2000);
    reader.limit_storage([&](std::uint64_t bytes) {
        if (bytes > 200 * 1024) return false;
        granted = bytes;
        return true;
    });
    const std::string crlf_line = std::string(998, 'y') + "\r\n";
    std::string input;
    for (int i = 0; i < 1000; ++i)  // 1 MB, five times what is granted
        input += crlf_line;
    input += ".\r\nQUIT\r\n";
    const auto used = reader.consume(input);
    EXPECT_EQ(used, input.size() - 6);  // the command after the data stays unread
    ASSERT_TRUE(reader.finished());
    EXPECT_EQ(reader.result(), DataResult::no_storage);
    EXPECT_LE(granted, 64u);  // back to an empty string's own bytes
    EXPECT_TRUE(reader.take_body().empty());
}

TEST(DataReader, RefusedStorageReadsTheDataToItsTerminator) {
    DataReader reader(1000, 1000);
    reader.refuse_storage();
    const std::string input = "Subject: x\r\n\r\nbody\r\n.\r\nRSET\r\n";
    EXPECT_EQ(reader.consume(input), input.size() - 6);
    EXPECT_TRUE(reader.finished());
    EXPECT_EQ(reader.result(), DataResult::no_storage);
}

}  // namespace
}  // namespace smarthost::smtp
