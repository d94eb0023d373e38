#pragma once
// The configuration file (TOML, `--config`), every key documented in docs/configuration.md.
// Loading validates every key: an unknown, missing or ill-typed key stops start-up with a
// message naming the key and the file.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace smarthost {

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class TlsMode { none, starttls, implicit };

struct SmtpLimits {
    std::uint64_t max_message_bytes = 26214400;  // 25 MiB, advertised with SIZE
    std::size_t max_recipients = 100;            // RFC 5321 4.5.3.1.8 minimum
    std::size_t max_line_bytes = 1000;           // data lines, CRLF included (RFC 5322 2.1.1)
    std::size_t max_errors = 10;
    std::chrono::seconds command_timeout{300};  // RFC 5321 4.5.3.2.7
    std::chrono::seconds data_timeout{600};     // RFC 5321 4.5.3.2.6 (3 min/block, 10 min end)
    std::size_t max_connections = 1000;         // per listener, in this process
    std::size_t max_connections_per_ip = 50;    // per listener, in this process
};

struct ListenerConfig {
    std::string name;
    std::string address;  // "127.0.0.1:2587", "[::1]:2587", "0.0.0.0:587"
    std::string host;
    std::uint16_t port = 0;
    TlsMode tls = TlsMode::starttls;
    bool allow_networks = false;  // allow-listed networks may relay without AUTH
    SmtpLimits limits;
};

struct Config {
    std::filesystem::path file;

    std::string hostname;

    std::string database_url;
    std::size_t database_pool_size = 8;

    std::filesystem::path tls_certificate;
    std::filesystem::path tls_private_key;

    bool allow_auth_without_tls = false;  // contract 3: only for tests
    std::chrono::milliseconds auth_failure_delay{1000};
    std::chrono::seconds auth_cache_ttl{300};
    std::size_t auth_hash_threads = 2;

    std::vector<ListenerConfig> listeners;

    std::size_t group_commit_max_messages = 64;
    std::chrono::microseconds group_commit_max_wait{2000};

    std::string log_level = "info";

    bool tls_configured() const { return !tls_certificate.empty(); }
};

// Reads and validates the file, then applies the environment overrides
// SMARTHOST_DATABASE_URL, SMARTHOST_TLS_CERTIFICATE and SMARTHOST_TLS_PRIVATE_KEY.
// Relative paths in the file are relative to the file's own directory.
Config load_config(const std::filesystem::path& file);

}  // namespace smarthost
