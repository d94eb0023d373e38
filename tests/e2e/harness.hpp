#pragma once
// End-to-end harness: the real smarthost binary, real clients (swaks, a raw SMTP client)
// and a real PostgreSQL, all on loopback.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace smarthost::e2e {

// A fresh directory under /tmp, removed at destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

std::uint16_t free_port();

struct CommandResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};
// Runs argv (no shell) to completion, with a deadline after which it is killed.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::seconds deadline = std::chrono::seconds(60));

// A child process, killed at destruction if still running.
class Process {
  public:
    Process(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
            const std::map<std::string, std::string>& extra_env = {});
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    void signal(int signo) const;
    // Waits for the exit; returns the exit status, or 128+signal, or -1 on timeout.
    int wait(std::chrono::seconds deadline);
    bool running();

  private:
    pid_t pid_ = -1;
    int status_ = -1;
};

bool starts_with(const std::string& text, const std::string& prefix);

// Waits until host:port accepts TCP connections. `what` names the listener in the
// result's message ("the admin listener, 127.0.0.1:8025, ..."), which says how long it
// waited whichever way it went (EXPECT_FALSE prints it too).
testing::AssertionResult wait_for_port(std::string_view what, const std::string& host,
                                       std::uint16_t port, std::chrono::seconds deadline);

// Polls `condition` until it holds or the deadline passes: for what the server does after
// its reply, such as rows it writes in the background. `what` says what was awaited ("the
// recipient is delivered") for the message of a failed wait.
testing::AssertionResult wait_until(std::string_view what, const std::function<bool()>& condition,
                                    std::chrono::seconds deadline = std::chrono::seconds(10));

// A self-signed certificate for localhost/127.0.0.1, made once per test process.
struct Certificate {
    std::filesystem::path certificate;
    std::filesystem::path private_key;
};
const Certificate& test_certificate();
// A new self-signed certificate with CN `name`, as cert.pem and key.pem in `dir`.
Certificate make_certificate(const std::filesystem::path& dir, const std::string& name);
// "Peer certificate: CN = name" as served on an implicit-TLS port (openssl s_client's
// words), or what s_client said when there was none.
std::string served_subject(std::uint16_t port);

struct ListenerSpec {
    ListenerSpec(std::string name_, std::string tls_ = "starttls", bool allow_networks_ = true,
                 std::string extra_ = {})
        : name(std::move(name_)),
          tls(std::move(tls_)),
          allow_networks(allow_networks_),
          extra(std::move(extra_)) {}
    std::string name;
    std::string tls;  // none | starttls | implicit
    bool allow_networks;
    std::string extra;       // more TOML lines for this listener (limits)
    std::uint16_t port = 0;  // chosen at start
};

struct ServerOptions {
    std::vector<ListenerSpec> listeners = {{"submission", "starttls"}, {"submissions", "implicit"}};
    bool allow_auth_without_tls = false;
    std::string extra_toml;   // appended to the file (other sections)
    std::string auth_toml;    // more keys of the [auth] section
    std::string server_toml;  // more keys of the [server] section
    // `serve --roles`: the submission tests run without delivery, so what they queue
    // stays as they queued it.
    std::string roles = "smtp";
    Certificate tls;  // test_certificate() when empty
};

// The real binary, configured on free loopback ports against `database_url`.
class SmarthostServer {
  public:
    SmarthostServer(std::string database_url, ServerOptions options = {});
    ~SmarthostServer();

    std::uint16_t port(const std::string& listener) const;
    const std::filesystem::path& config_file() const { return config_file_; }
    std::string log() const;  // what the server wrote so far
    // Replaces the first `from` in the configuration file with `to` (for SIGHUP tests);
    // throws std::invalid_argument when the file has no `from`.
    void edit_config(const std::string& from, const std::string& to) const;
    Process& process() { return *process_; }
    // Sends a signal to the server process (SIGTERM drains, SIGHUP reloads, SIGKILL).
    void send_signal(int signo) const { process_->signal(signo); }
    // Waits for the server to exit: its exit status, 128+signal when a signal ended it,
    // or -1 when it is still running after the deadline.
    int wait_exit(std::chrono::seconds deadline = std::chrono::seconds(60)) {
        return process_->wait(deadline);
    }
    // Runs a smarthost subcommand against the same configuration.
    CommandResult subcommand(const std::vector<std::string>& args) const;

  private:
    TempDir dir_;
    std::string database_url_;
    ServerOptions options_;
    std::filesystem::path config_file_;
    std::filesystem::path log_file_;
    std::unique_ptr<Process> process_;
};

std::filesystem::path smarthost_binary();

// Runs swaks with the given arguments (quit after the transaction, no hanging).
CommandResult swaks(const std::vector<std::string>& args);

// The queue id from a "250 2.0.0 Ok: queued as <id>" in a transcript; empty if none.
std::string queued_id(const std::string& transcript);

// A blocking SMTP client for byte-exact conversations.
class RawSmtpClient {
  public:
    RawSmtpClient(std::uint16_t port, const std::string& local_address = "127.0.0.1");
    ~RawSmtpClient();
    RawSmtpClient(const RawSmtpClient&) = delete;
    RawSmtpClient& operator=(const RawSmtpClient&) = delete;

    void send(std::string_view bytes);
    // One complete (possibly multi-line) reply, e.g. "250-a\r\n250 b\r\n"; empty on EOF.
    std::string reply(std::chrono::seconds deadline = std::chrono::seconds(15));
    // Sends a command line (CRLF added) and returns its reply.
    std::string command(std::string_view line);
    // True when the server closed the connection (reads EOF within the deadline).
    bool closed(std::chrono::seconds deadline = std::chrono::seconds(5));
    // TLS handshake on the connection (after the server's 220 to STARTTLS, or at once
    // for implicit TLS); later sends and replies go through TLS. False on failure.
    bool start_tls();

  private:
    int fd_ = -1;
    void* ssl_ctx_ = nullptr;  // SSL_CTX*
    void* ssl_ = nullptr;      // SSL*
    std::string buffer_;
    long receive(char* data, std::size_t size);
};

// "250 2.1.0 ..." -> 250
int reply_code(const std::string& reply);

// Base64 of any bytes (for SASL responses built by hand).
std::string base64(std::string_view bytes);
// "AUTH PLAIN <base64(authzid NUL username NUL password)>".
std::string auth_plain(std::string_view username, std::string_view password,
                       std::string_view authzid = "");

}  // namespace smarthost::e2e
