// [scanning] (docs/scanning.md): where rspamd listens, how long a scan may take, which
// messages are scanned and the default thresholds of the actions.

#include <cmath>

#include "core/config_section.hpp"

namespace smarthost::config_file {
namespace {

// A threshold is a score, or false: that action is never taken by default.
void read_threshold(Section& s, std::string_view key, std::optional<double>& out) {
    const auto* n = s.node(key);
    if (!n) return;
    if (const auto* b = n->as_boolean()) {
        if (b->get()) s.fail(key, "must be a score or false");
        out.reset();
        return;
    }
    double value = 0;
    if (const auto* f = n->as_floating_point()) {
        value = f->get();
    } else if (const auto* i = n->as_integer()) {
        value = static_cast<double>(i->get());
    } else {
        s.fail(key, "must be a score or false");
    }
    if (!std::isfinite(value) || value < -1000 || value > 1000)
        s.fail(key, "must be between -1000 and 1000");
    out = value;
}

// "http://host[:port][/path]": rspamd's normal worker speaks plain HTTP/1.1.
void split_url(Section& s, ScanningConfig& scanning) {
    constexpr std::string_view scheme = "http://";
    const std::string_view url = scanning.rspamd_url;
    if (url.substr(0, scheme.size()) != scheme)
        s.fail("rspamd_url", "must be http://host[:port][/path]");
    auto rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    scanning.target =
        slash == std::string_view::npos ? "/checkv2" : std::string(rest.substr(slash));
    auto authority = rest.substr(0, slash);
    std::string_view host = authority;
    std::string_view port = "11333";
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) s.fail("rspamd_url", "has an unclosed [");
        host = authority.substr(1, close - 1);
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') s.fail("rspamd_url", "must be http://host[:port][/path]");
            port = after.substr(1);
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) s.fail("rspamd_url", "names no host");
    for (const char c : host)
        if (static_cast<unsigned char>(c) <= ' ' || c == '@' || c == '?' || c == '#')
            s.fail("rspamd_url", "has a host with characters no host name has");
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535)
        s.fail("rspamd_url", "must have a port between 1 and 65535");
    for (const char c : scanning.target)
        if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
            s.fail("rspamd_url", "has a path with spaces or control characters");
    scanning.host = std::string(host);
    scanning.port = std::string(port);
}

}  // namespace

void read_scanning(const toml::table& table, const std::filesystem::path& file,
                   ScanningConfig& scanning) {
    Section s(table, "scanning", file);
    s.read("rspamd_url", scanning.rspamd_url);
    if (!scanning.rspamd_url.empty()) split_url(s, scanning);
    s.read_duration("timeout_ms", scanning.timeout, 10, 600000);
    s.read_int("max_message_bytes", scanning.max_message_bytes, 1, std::int64_t{1} << 40);
    s.read_int("max_answer_bytes", scanning.max_answer_bytes, 1024, 64 * 1024 * 1024);
    s.read_bool("default_enabled", scanning.default_enabled);
    read_threshold(s, "add_header_score", scanning.add_header_score);
    read_threshold(s, "hold_score", scanning.hold_score);
    read_threshold(s, "reject_score", scanning.reject_score);
    s.reject_unknown();
    const auto& a = scanning.add_header_score;
    const auto& h = scanning.hold_score;
    const auto& r = scanning.reject_score;
    if ((a && h && *a > *h) || (h && r && *h > *r) || (a && r && *a > *r))
        s.fail("add_header_score", "the thresholds must be ordered add_header <= hold <= reject");
}

}  // namespace smarthost::config_file
