#include "relay/smtp/command_reader.hpp"

namespace smarthost::smtp {

std::optional<CommandLine> CommandReader::next(std::string& inbox) {
    auto lf = inbox.find('\n');
    if (lf == std::string::npos) {
        // Even with just its LF still to come, a line this long exceeds the limit: drop
        // what arrived so memory stays bounded, and report it when the LF arrives.
        if (discarding_ || inbox.size() >= max_line_bytes_) {
            discarding_ = true;
            inbox.clear();
        }
        return std::nullopt;
    }

    CommandLine line;
    if (discarding_ || lf + 1 > max_line_bytes_) {
        line.status = CommandLine::Status::too_long;
    } else if (lf == 0 || inbox[lf - 1] != '\r') {
        // RFC 5321 section 2.3.8: only CRLF ends a line; a bare LF is refused rather than
        // guessed at, the way the SMTP smuggling fixes of 2023 settled it.
        line.status = CommandLine::Status::bare_lf;
    } else {
        line.text.assign(inbox, 0, lf - 1);
    }
    discarding_ = false;
    inbox.erase(0, lf + 1);
    return line;
}

}  // namespace smarthost::smtp
