#pragma once
// Process-wide logging: spdlog to stderr, one line per event, level and format from the
// config. Every line goes through one formatter that escapes what a client could have put
// in it (CR, LF, other control bytes, bytes that are not UTF-8), so no client-supplied
// string can forge a log line or break a log shipper's parser.

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace smarthost {

enum class LogFormat {
    text,  // 2026-12-06T05:00:00.123Z info session end listener=submission ...
    json,  // {"time":"...","level":"info","message":"...","fields":{"listener":"..."}}
};

void init_logging(std::string_view level, LogFormat format = LogFormat::text);

// `text` with every byte below 0x20, DEL, a backslash and every byte that is not part of
// well-formed UTF-8 written as \xNN; everything else as it is.
std::string escape_log_text(std::string_view text);

// One log line (with its newline) of `message`, already escaped, in `format`. `time` is
// "YYYY-MM-DDTHH:MM:SS.mmmZ". In JSON the message's key=value words are repeated under
// "fields", so a log shipper can index them without parsing the message.
std::string format_log_line(LogFormat format, std::string_view time, std::string_view level,
                            std::string_view message);

}  // namespace smarthost
