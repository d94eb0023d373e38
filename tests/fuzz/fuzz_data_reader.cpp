// Arbitrary bytes through DataReader, whole and in arbitrary chunks. Invariants: consume
// never takes more than it was given, and all of it unless finished; the data ends
// exactly after the first CRLF.CRLF (or a leading ".\r\n"), never elsewhere; chunking
// never changes the outcome; an accepted body is the dot-unstuffed input within limits.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/smtp/data_reader.hpp"

namespace {

using namespace smarthost::smtp;

void check(bool condition) {
    if (!condition) std::abort();
}

struct Outcome {
    bool finished;
    DataResult result;
    std::size_t used;
    std::string body;
};

Outcome read(std::string_view input, std::size_t chunk, std::uint64_t max_message,
             std::size_t max_line) {
    DataReader reader(max_message, max_line);
    std::size_t used = 0;
    while (used < input.size() && !reader.finished()) {
        auto piece = input.substr(used, chunk);
        std::size_t taken = reader.consume(piece);
        check(taken <= piece.size());
        if (!reader.finished()) check(taken == piece.size());
        used += taken;
    }
    check(reader.octets() == used);
    return Outcome{reader.finished(), reader.result(), used, reader.take_body()};
}

// What the body must be for data without problems: its CRLF-terminated lines with a
// leading dot removed.
std::string unstuffed(std::string_view lines) {
    std::string body;
    while (!lines.empty()) {
        auto end = lines.find("\r\n");
        check(end != std::string_view::npos);
        auto line = lines.substr(0, end);
        if (!line.empty() && line.front() == '.') line.remove_prefix(1);
        body.append(line);
        body.append("\r\n");
        lines = lines.substr(end + 2);
    }
    return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t chunk = 1 + data[0] % 32;
    const std::size_t max_line = 4 + data[1] % 64;
    const std::uint64_t max_message = 16 + data[1] * 4;
    std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

    Outcome whole = read(input, input.size() + 1, max_message, max_line);
    Outcome chunked = read(input, chunk, max_message, max_line);
    check(whole.finished == chunked.finished && whole.result == chunked.result &&
          whole.used == chunked.used && whole.body == chunked.body);

    std::size_t expected_end = std::string_view::npos;
    if (input.starts_with(".\r\n")) {
        expected_end = 3;
    } else if (auto at = input.find("\r\n.\r\n"); at != std::string_view::npos) {
        expected_end = at + 5;
    }
    check(whole.finished == (expected_end != std::string_view::npos));
    if (whole.finished) check(whole.used == expected_end);
    if (!whole.finished) check(whole.used == input.size());

    check(whole.body.size() <= max_message);
    if (whole.result != DataResult::ok) check(whole.body.empty());
    if (whole.finished && whole.result == DataResult::ok) {
        // The terminator's leading CRLF belongs to the last line of the body.
        std::string_view message = input.substr(0, whole.used == 3 ? 0 : whole.used - 3);
        check(message.find('\0') == std::string_view::npos);
        check(whole.body == unstuffed(message));
    }
    return 0;
}
