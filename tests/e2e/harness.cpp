#include "tests/e2e/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/free_port.hpp"

namespace smarthost::e2e {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TempDir::TempDir() {
    std::string pattern = (fs::temp_directory_path() / "smarthost-e2e-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    // PostgreSQL clusters made by tests run as the postgres user and live in here.
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
}

TempDir::~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

std::uint16_t free_port() {
    return test::free_tcp_port();
}

namespace {

pid_t spawn(const std::vector<std::string>& argv, int out_fd,
            const std::map<std::string, std::string>& extra_env) {
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(out_fd, STDOUT_FILENO);
        ::dup2(out_fd, STDERR_FILENO);
        const int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, STDIN_FILENO);
        // Sockets of the test process (a TcpProxy's listener, Asio opens them without
        // CLOEXEC) must not live on in the child: closing them must end them.
        ::close_range(3, ~0U, 0);
        // The configuration file under test decides; a developer's shell does not.
        for (const char* name :
             {"SMARTHOST_DATABASE_URL", "SMARTHOST_TLS_CERTIFICATE", "SMARTHOST_TLS_PRIVATE_KEY"})
            ::unsetenv(name);
        for (const auto& [key, value] : extra_env)
            ::setenv(key.c_str(), value.c_str(), 1);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    return pid;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::seconds deadline) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = spawn(argv, pipe_fds[1], {});
    ::close(pipe_fds[1]);
    CommandResult result;
    const auto until = Clock::now() + deadline;
    char buffer[4096];
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        if (left <= 0) {
            ::kill(-pid, SIGKILL);
            result.output += "\n[killed: deadline passed]";
            break;
        }
        pollfd p{pipe_fds[0], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        const auto n = ::read(pipe_fds[0], buffer, sizeof buffer);
        if (n <= 0) break;
        result.output.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = decode_status(status);
    return result;
}

Process::Process(const std::vector<std::string>& argv, const fs::path& log_file,
                 const std::map<std::string, std::string>& extra_env) {
    const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + log_file.string());
    pid_ = spawn(argv, fd, extra_env);
    ::close(fd);
}

Process::~Process() {
    if (running()) {
        ::kill(pid_, SIGKILL);
        wait(10s);
    }
}

void Process::signal(int signo) const {
    ::kill(pid_, signo);
}

bool Process::running() {
    if (status_ != -1) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = decode_status(status);
        return false;
    }
    return true;
}

int Process::wait(std::chrono::seconds deadline) {
    const auto until = Clock::now() + deadline;
    while (running()) {
        if (Clock::now() >= until) return -1;
        std::this_thread::sleep_for(20ms);
    }
    return status_;
}

bool starts_with(const std::string& text, const std::string& prefix) {
    return text.rfind(prefix, 0) == 0;
}

testing::AssertionResult wait_for_port(std::string_view what, const std::string& host,
                                       std::uint16_t port, std::chrono::seconds deadline) {
    const auto started = Clock::now();
    const auto until = started + deadline;
    while (Clock::now() < until) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (ok) {
            const auto waited =
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
            return testing::AssertionSuccess()
                   << what << ", " << host << ":" << port << ", accepted a connection after "
                   << waited.count() << " ms";
        }
        std::this_thread::sleep_for(20ms);
    }
    return testing::AssertionFailure()
           << what << ", " << host << ":" << port << ", accepted no connection within "
           << deadline.count() << " s";
}

testing::AssertionResult wait_until(std::string_view what, const std::function<bool()>& condition,
                                    std::chrono::seconds deadline) {
    const auto started = Clock::now();
    const auto until = started + deadline;
    while (!condition()) {
        if (Clock::now() >= until)
            return testing::AssertionFailure()
                   << "waited " << deadline.count() << " s for: " << what;
        std::this_thread::sleep_for(20ms);
    }
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return testing::AssertionSuccess() << what << " after " << waited.count() << " ms";
}

const Certificate& test_certificate() {
    static TempDir dir;
    static Certificate certificate;
    static std::once_flag once;
    std::call_once(once, [] {
        certificate.certificate = dir.path() / "cert.pem";
        certificate.private_key = dir.path() / "key.pem";
        const auto result = run_command(
            {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout",
             certificate.private_key.string(), "-out", certificate.certificate.string()});
        if (result.exit_code != 0) throw std::runtime_error("openssl req failed: " + result.output);
    });
    return certificate;
}

Certificate make_certificate(const fs::path& dir, const std::string& name) {
    Certificate c{dir / "cert.pem", dir / "key.pem"};
    const auto result = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                     "-days", "2", "-subj", "/CN=" + name, "-keyout",
                                     c.private_key.string(), "-out", c.certificate.string()});
    if (result.exit_code != 0) throw std::runtime_error(result.output);
    return c;
}

std::string served_subject(std::uint16_t port) {
    const auto result = run_command(
        {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-brief"}, 20s);
    const auto at = result.output.find("Peer certificate: ");
    if (at == std::string::npos) return result.output;
    return result.output.substr(at, result.output.find('\n', at) - at);
}

fs::path smarthost_binary() {
    if (const char* env = std::getenv("SMARTHOST_BINARY"); env && *env) return env;
    return SMARTHOST_BINARY_PATH;
}

SmarthostServer::SmarthostServer(std::string database_url, ServerOptions options)
    : database_url_(std::move(database_url)), options_(std::move(options)) {
    const auto& cert = options_.tls.certificate.empty() ? test_certificate() : options_.tls;
    std::ostringstream toml;
    toml << "[server]\nhostname = \"relay.e2e.test\"\n"
         << options_.server_toml << "\n"
         << "[database]\nurl = \"" << database_url_ << "\"\npool_size = 4\n"
         << "[tls]\ncertificate = \"" << cert.certificate.string() << "\"\nprivate_key = \""
         << cert.private_key.string() << "\"\n"
         << "[auth]\nallow_without_tls = " << (options_.allow_auth_without_tls ? "true" : "false")
         << "\nfailure_delay_ms = 200\nhash_threads = 2\n"
         << options_.auth_toml << "\n"
         << "[log]\nlevel = \"debug\"\n"
         << options_.extra_toml << "\n";
    for (auto& listener : options_.listeners) {
        if (listener.port == 0) listener.port = free_port();
        toml << "[[smtp.listener]]\nname = \"" << listener.name
             << "\"\naddress = \"127.0.0.1:" << listener.port << "\"\ntls = \"" << listener.tls
             << "\"\nallow_networks = " << (listener.allow_networks ? "true" : "false") << "\n"
             << listener.extra << "\n";
    }
    config_file_ = dir_.path() / "smarthost.toml";
    log_file_ = dir_.path() / "smarthost.log";
    std::ofstream(config_file_) << toml.str();
    process_ = std::make_unique<Process>(
        std::vector<std::string>{smarthost_binary().string(), "--config", config_file_.string(),
                                 "serve", "--roles", options_.roles},
        log_file_);
    // Without the smtp role there is nothing to wait for.
    const bool listening = options_.roles.find("smtp") != std::string::npos;
    for (const auto& listener : options_.listeners) {
        if (!listening) break;
        // A process that exited (a configuration it refused, a port it could not bind)
        // is reported at once, with its log, rather than after the whole wait.
        const auto until = Clock::now() + 30s;
        while (!wait_for_port("the smtp listener", "127.0.0.1", listener.port, 1s)) {
            if (!process_->running() || Clock::now() >= until)
                throw std::runtime_error("smarthost did not listen on " +
                                         std::to_string(listener.port) + ":\n" + log());
        }
    }
}

SmarthostServer::~SmarthostServer() {
    if (process_->running()) {
        process_->signal(SIGTERM);
        if (process_->wait(20s) == -1) process_->signal(SIGKILL);
    }
}

std::uint16_t SmarthostServer::port(const std::string& listener) const {
    for (const auto& l : options_.listeners)
        if (l.name == listener) return l.port;
    throw std::runtime_error("no listener " + listener);
}

std::string SmarthostServer::log() const {
    std::ifstream in(log_file_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void SmarthostServer::edit_config(const std::string& from, const std::string& to) const {
    std::string text;
    {
        std::ifstream in(config_file_);
        std::stringstream s;
        s << in.rdbuf();
        text = s.str();
    }
    const auto at = text.find(from);
    if (at == std::string::npos)
        throw std::invalid_argument("\"" + from + "\" is not in " + config_file_.string() + ":\n" +
                                    text);
    text.replace(at, from.size(), to);
    std::ofstream(config_file_, std::ios::trunc) << text;
}

CommandResult SmarthostServer::subcommand(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{smarthost_binary().string(), "--config", config_file_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

CommandResult swaks(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"swaks", "--timeout", "20", "--hide-informational"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

std::string queued_id(const std::string& transcript) {
    static constexpr std::string_view marker = "250 2.0.0 Ok: queued as ";
    const auto at = transcript.find(marker);
    if (at == std::string::npos) return {};
    const auto id = transcript.substr(at + marker.size(), 32);
    const bool hex =
        id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
    return hex ? id : std::string();
}

RawSmtpClient::RawSmtpClient(std::uint16_t port, const std::string& local_address) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, local_address.c_str(), &local.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
        throw std::runtime_error("cannot bind " + local_address);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0)
        throw std::runtime_error("cannot connect to port " + std::to_string(port));
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawSmtpClient::~RawSmtpClient() {
    if (ssl_) SSL_free(static_cast<SSL*>(ssl_));
    if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
    ::close(fd_);
}

bool RawSmtpClient::start_tls() {
    auto* ctx = SSL_CTX_new(TLS_client_method());
    ssl_ctx_ = ctx;
    auto* ssl = SSL_new(ctx);
    ssl_ = ssl;
    SSL_set_fd(ssl, fd_);
    SSL_set_tlsext_host_name(ssl, "localhost");
    // Whatever the client had buffered in clear text belongs to the clear-text phase.
    buffer_.clear();
    return SSL_connect(ssl) == 1;
}

long RawSmtpClient::receive(char* data, std::size_t size) {
    if (ssl_) return SSL_read(static_cast<SSL*>(ssl_), data, static_cast<int>(size));
    return ::recv(fd_, data, size, 0);
}

void RawSmtpClient::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const long n =
            ssl_ ? SSL_write(static_cast<SSL*>(ssl_), bytes.data(), static_cast<int>(bytes.size()))
                 : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed");
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string RawSmtpClient::reply(std::chrono::seconds deadline) {
    const auto until = Clock::now() + deadline;
    for (;;) {
        // A reply ends with a line whose fourth character is a space (RFC 5321 4.2.1).
        std::size_t start = 0;
        while (true) {
            const auto eol = buffer_.find("\r\n", start);
            if (eol == std::string::npos) break;
            if (eol - start >= 4 && buffer_[start + 3] == ' ') {
                std::string out = buffer_.substr(0, eol + 2);
                buffer_.erase(0, eol + 2);
                return out;
            }
            if (eol - start == 3) {  // "250\r\n"
                std::string out = buffer_.substr(0, eol + 2);
                buffer_.erase(0, eol + 2);
                return out;
            }
            start = eol + 2;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        if (left <= 0) return {};
        const bool pending = ssl_ && SSL_pending(static_cast<SSL*>(ssl_)) > 0;
        pollfd p{fd_, POLLIN, 0};
        if (!pending && ::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char chunk[4096];
        const auto n = receive(chunk, sizeof chunk);
        if (n <= 0) return {};
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

std::string RawSmtpClient::command(std::string_view line) {
    send(std::string(line) + "\r\n");
    return reply();
}

bool RawSmtpClient::closed(std::chrono::seconds deadline) {
    const auto until = Clock::now() + deadline;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char chunk[4096];
        const auto n = receive(chunk, sizeof chunk);
        if (n <= 0) return true;
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

int reply_code(const std::string& reply) {
    return reply.size() >= 3 ? std::atoi(reply.substr(0, 3).c_str()) : 0;
}

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string auth_plain(std::string_view username, std::string_view password,
                       std::string_view authzid) {
    std::string message(authzid);
    message += '\0';
    message += username;
    message += '\0';
    message += password;
    return "AUTH PLAIN " + base64(message);
}

}  // namespace smarthost::e2e
