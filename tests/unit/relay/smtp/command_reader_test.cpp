#include "relay/smtp/command_reader.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace smarthost::smtp {
namespace {

using Status = CommandLine::Status;

// Feeds `input` in pieces of `chunk` octets, collecting every line the reader yields.
std::vector<CommandLine> read_all(std::string_view input, std::size_t chunk,
                                  std::size_t max_line = 512) {
    CommandReader reader(max_line);
    std::string inbox;
    std::vector<CommandLine> lines;
    for (std::size_t i = 0; i < input.size(); i += chunk) {
        inbox.append(input.substr(i, chunk));
        while (auto line = reader.next(inbox))
            lines.push_back(std::move(*line));
        EXPECT_LE(inbox.size(), max_line);  // memory stays bounded
    }
    return lines;
}

TEST(CommandReader, ReturnsLinesWithoutCrlf) {
    CommandReader reader;
    std::string inbox = "EHLO a\r\nMAIL FROM:<>\r\nRC";
    auto first = reader.next(inbox);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, Status::complete);
    EXPECT_EQ(first->text, "EHLO a");
    auto second = reader.next(inbox);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->text, "MAIL FROM:<>");
    EXPECT_FALSE(reader.next(inbox));
    EXPECT_EQ(inbox, "RC");  // the partial line waits for more input
}

TEST(CommandReader, EmptyLineIsAComplete) {
    CommandReader reader;
    std::string inbox = "\r\n";
    auto line = reader.next(inbox);
    ASSERT_TRUE(line);
    EXPECT_EQ(line->status, Status::complete);
    EXPECT_EQ(line->text, "");
}

TEST(CommandReader, BareLfIsReported) {
    auto lines = read_all("NOOP\nQUIT\r\n", 100);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].status, Status::bare_lf);
    EXPECT_EQ(lines[1].status, Status::complete);
    EXPECT_EQ(lines[1].text, "QUIT");
    EXPECT_EQ(read_all("\n", 1).at(0).status, Status::bare_lf);
}

TEST(CommandReader, CrInsideALineIsText) {
    auto lines = read_all("NO\rOP\r\n", 100);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].text, "NO\rOP");
}

TEST(CommandReader, LineOfExactlyTheLimitIsAccepted) {
    std::string line(510, 'x');
    auto lines = read_all(line + "\r\n", 7);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].status, Status::complete);
    EXPECT_EQ(lines[0].text, line);
}

TEST(CommandReader, OverlongLineIsReportedOnceAtItsEnd) {
    for (std::size_t chunk : {1u, 7u, 100u, 511u, 512u, 513u, 5000u}) {
        std::string input =
            std::string(511, 'x') + "\r\nNOOP\r\n" + std::string(4000, 'y') + "\r\nQUIT\r\n";
        auto lines = read_all(input, chunk);
        ASSERT_EQ(lines.size(), 4u) << chunk;
        EXPECT_EQ(lines[0].status, Status::too_long) << chunk;
        EXPECT_EQ(lines[1].text, "NOOP") << chunk;
        EXPECT_EQ(lines[2].status, Status::too_long) << chunk;
        EXPECT_EQ(lines[3].text, "QUIT") << chunk;
    }
}

TEST(CommandReader, OverlongLineWithoutEndIsNotReportedYet) {
    CommandReader reader(16);
    std::string inbox(100, 'x');
    EXPECT_FALSE(reader.next(inbox));
    EXPECT_TRUE(inbox.empty());
    inbox = "more\r\nNOOP\r\n";
    auto line = reader.next(inbox);
    ASSERT_TRUE(line);
    EXPECT_EQ(line->status, Status::too_long);
    EXPECT_EQ(reader.next(inbox)->text, "NOOP");
}

TEST(CommandReader, SplitAtEveryPositionGivesTheSameLines) {
    const std::string input = "EHLO a\r\nMAIL FROM:<x@y>\r\nbad\nRCPT TO:<z@w>\r\n\r\nQUIT\r\n";
    auto whole = read_all(input, input.size());
    for (std::size_t split = 1; split < input.size(); ++split) {
        CommandReader reader;
        std::string inbox = input.substr(0, split);
        std::vector<CommandLine> lines;
        while (auto line = reader.next(inbox))
            lines.push_back(*line);
        inbox += input.substr(split);
        while (auto line = reader.next(inbox))
            lines.push_back(*line);
        ASSERT_EQ(lines.size(), whole.size()) << split;
        for (std::size_t i = 0; i < lines.size(); ++i) {
            EXPECT_EQ(lines[i].status, whole[i].status) << split;
            EXPECT_EQ(lines[i].text, whole[i].text) << split;
        }
    }
    auto bytewise = read_all(input, 1);
    EXPECT_EQ(bytewise.size(), whole.size());
}

}  // namespace
}  // namespace smarthost::smtp
