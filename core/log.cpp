#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

namespace smarthost {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0 when there is none.
std::size_t utf8_sequence(std::string_view text) {
    const auto lead = static_cast<unsigned char>(text[0]);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else {
        return 0;
    }
    if (text.size() < length) return 0;
    for (std::size_t i = 1; i < length; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (i == 1 ? (byte < low || byte > high) : (byte < 0x80 || byte > 0xBF)) return 0;
    }
    return length;
}

void append_hex(std::string& out, unsigned char byte) {
    constexpr char k_digits[] = "0123456789abcdef";
    out += "\\x";
    out += k_digits[byte >> 4];
    out += k_digits[byte & 0x0F];
}

// JSON string contents of text that escape_log_text has made free of control bytes.
void append_json(std::string& out, std::string_view text) {
    for (const char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
}

bool is_field_name(std::string_view name) {
    if (name.empty()) return false;
    for (const char c : name)
        if (!((c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9'))) return false;
    return true;
}

class LineFormatter final : public spdlog::formatter {
  public:
    explicit LineFormatter(LogFormat format) : format_(format) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto since_epoch = msg.time.time_since_epoch();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        const auto millis =
            std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
        const std::time_t whole = seconds.count();
        std::tm utc{};
        gmtime_r(&whole, &utc);
        char time[64];
        std::snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                      utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                      static_cast<int>(millis));
        const auto level = spdlog::level::to_string_view(msg.level);
        const auto line = format_log_line(
            format_, time, std::string_view(level.data(), level.size()),
            escape_log_text(std::string_view(msg.payload.data(), msg.payload.size())));
        dest.append(line.data(), line.data() + line.size());
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<LineFormatter>(format_);
    }

  private:
    LogFormat format_;
};

}  // namespace

std::string escape_log_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7F && byte != '\\') {
            out += static_cast<char>(byte);
            ++i;
        } else if (const auto length = byte >= 0x80 ? utf8_sequence(text.substr(i)) : 0;
                   length > 0) {
            out.append(text.substr(i, length));
            i += length;
        } else {
            append_hex(out, byte);
            ++i;
        }
    }
    return out;
}

std::string format_log_line(LogFormat format, std::string_view time, std::string_view level,
                            std::string_view message) {
    std::string line;
    if (format == LogFormat::text) {
        line.append(time).append(" ").append(level).append(" ").append(message).append("\n");
        return line;
    }
    line += R"({"time":")";
    line.append(time);
    line += R"(","level":")";
    line.append(level);
    line += R"(","message":")";
    append_json(line, message);
    line += '"';
    // key=value words of the message, the fields of a line like "session end
    // listener=submission client=192.0.2.7 ..."; the first occurrence of a key wins.
    std::string fields;
    std::vector<std::string_view> seen;
    for (std::size_t start = 0; start < message.size();) {
        auto end = message.find(' ', start);
        if (end == std::string_view::npos) end = message.size();
        const auto word = message.substr(start, end - start);
        start = end + 1;
        const auto equals = word.find('=');
        if (equals == std::string_view::npos) continue;
        const auto name = word.substr(0, equals);
        if (!is_field_name(name) || std::find(seen.begin(), seen.end(), name) != seen.end())
            continue;
        seen.push_back(name);
        fields += fields.empty() ? "{\"" : ",\"";
        fields.append(name);
        fields += "\":\"";
        append_json(fields, word.substr(equals + 1));
        fields += '"';
    }
    if (!fields.empty()) line += R"(,"fields":)" + fields + "}";
    line += "}\n";
    return line;
}

void init_logging(std::string_view level, LogFormat format) {
    auto logger = spdlog::stderr_logger_mt("smarthost");
    logger->set_formatter(std::make_unique<LineFormatter>(format));
    logger->set_level(spdlog::level::from_str(std::string(level)));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace smarthost
