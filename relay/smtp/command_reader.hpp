#pragma once
// Splits the command stream into lines (RFC 5321 section 2.3.8: lines end with CRLF).

#include <cstddef>
#include <optional>
#include <string>

namespace smarthost::smtp {

struct CommandLine {
    enum class Status {
        complete,  // text holds the line without CRLF
        too_long,  // the line exceeded the limit; it was discarded up to its end
        bare_lf,   // the line ended with LF not preceded by CR; text is discarded
    };
    Status status = Status::complete;
    std::string text;
};

class CommandReader {
  public:
    // RFC 5321 section 4.5.3.1.4: 512 octets including CRLF.
    explicit CommandReader(std::size_t max_line_bytes = 512) : max_line_bytes_(max_line_bytes) {}

    // Takes the next line out of the front of `inbox`, erasing what it consumed.
    // Returns nullopt when `inbox` holds no complete line yet. An overlong line is
    // consumed as it arrives (memory stays bounded) and reported once its LF is seen.
    std::optional<CommandLine> next(std::string& inbox);

  private:
    std::size_t max_line_bytes_;
    bool discarding_ = false;
};

}  // namespace smarthost::smtp
