// The [smtp] limits and proxy keys and each [[smtp.listener]]: address, TLS mode, limits.
#include <fmt/format.h>

#include <cstdlib>

#include "core/config_section.hpp"
#include "core/network.hpp"

namespace smarthost::config_file {

void read_limits(Section& s, SmtpLimits& limits) {
    constexpr std::int64_t big = std::int64_t{1} << 40;
    s.read_int("max_message_bytes", limits.max_message_bytes, 1024, big);
    s.read_int("max_recipients", limits.max_recipients, 1, 100000);
    s.read_int("max_line_bytes", limits.max_line_bytes, 1000, 1 << 20);
    s.read_int("max_errors", limits.max_errors, 1, 1000);
    s.read_int("max_auth_failures", limits.max_auth_failures, 1, 1000);
    s.read_duration("command_timeout_seconds", limits.command_timeout, 1, 3600);
    s.read_duration("data_timeout_seconds", limits.data_timeout, 1, 3600);
    s.read_int("data_min_bytes_per_second", limits.data_min_bytes_per_second, 0, 1 << 30);
    s.read_duration("data_rate_grace_seconds", limits.data_rate_grace, 1, 3600);
    s.read_duration("max_session_seconds", limits.max_session, 0, 7 * 86400);
    s.read_int("max_junk_commands", limits.max_junk_commands, 1, 1000000);
    s.read_int("max_connections", limits.max_connections, 1, 1000000);
    s.read_int("max_connections_per_ip", limits.max_connections_per_ip, 1, 1000000);
    // Up to the 512-octet command line that carries the path (RFC 5321 section 4.5.3.1.4).
    s.read_int("max_local_part_octets", limits.max_local_part_octets, 64, 512);
    s.read_int("max_path_octets", limits.max_path_octets, 256, 512);
}

// "127.0.0.1:2587" or "[::1]:2587" in key `address` of section `s`.
void split_address(Section& s, const std::string& a, std::string& host_out,
                   std::uint16_t& port_out) {
    std::string host, port;
    if (!a.empty() && a.front() == '[') {
        const auto close = a.find(']');
        if (close == std::string::npos || close + 1 >= a.size() || a[close + 1] != ':')
            s.fail("address", "must look like [::1]:2587");
        host = a.substr(1, close - 1);
        port = a.substr(close + 2);
    } else {
        const auto colon = a.rfind(':');
        if (colon == std::string::npos || a.find(':') != colon)
            s.fail("address", "must look like 127.0.0.1:2587 (IPv6 in brackets)");
        host = a.substr(0, colon);
        port = a.substr(colon + 1);
    }
    char* end = nullptr;
    const long number = std::strtol(port.c_str(), &end, 10);
    if (host.empty() || port.empty() || *end != '\0' || number < 1 || number > 65535)
        s.fail("address", "must name a host and a port between 1 and 65535");
    host_out = host;
    port_out = static_cast<std::uint16_t>(number);
}

// proxy_protocol and trusted_proxies of [smtp] or of one listener. Each entry must be an
// address or a network; whether the list may be empty is decided per listener.
void read_proxy_protocol(Section& s, ProxyProtocolConfig& proxy) {
    s.read_bool("proxy_protocol", proxy.enabled);
    s.read_strings("trusted_proxies", proxy.trusted_proxies);
    for (const auto& entry : proxy.trusted_proxies)
        if (!Network::parse(entry))
            s.fail("trusted_proxies", fmt::format("\"{}\" is not an address or network", entry));
}

ListenerConfig read_listener(const toml::table& table, std::size_t index,
                             const SmtpLimits& defaults, const ProxyProtocolConfig& proxy_defaults,
                             const std::filesystem::path& file) {
    Section s(table, fmt::format("smtp.listener[{}]", index), file);
    ListenerConfig listener;
    listener.limits = defaults;
    listener.proxy = proxy_defaults;
    s.read("name", listener.name, true);
    s.read("address", listener.address, true);
    split_address(s, listener.address, listener.host, listener.port);
    std::string tls = "starttls";
    s.read("tls", tls);
    if (tls == "none") {
        listener.tls = TlsMode::none;
    } else if (tls == "starttls") {
        listener.tls = TlsMode::starttls;
    } else if (tls == "implicit") {
        listener.tls = TlsMode::implicit;
    } else {
        s.fail("tls", "must be one of none, starttls, implicit");
    }
    s.read_bool("allow_networks", listener.allow_networks);
    read_limits(s, listener.limits);
    read_proxy_protocol(s, listener.proxy);
    if (listener.proxy.enabled && listener.proxy.trusted_proxies.empty()) {
        // Named where the list is missing: the listener's own key when it turned the
        // protocol on itself, else the [smtp] default it inherited.
        const std::string message = fmt::format(
            "must list at least one proxy network when proxy_protocol is true (listener {})",
            listener.name);
        if (s.table().contains("proxy_protocol")) s.fail("trusted_proxies", message);
        throw ConfigError(fmt::format("{}: smtp.trusted_proxies: {}", file.string(), message));
    }
    s.reject_unknown();
    return listener;
}

}  // namespace smarthost::config_file
