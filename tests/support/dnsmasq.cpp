#include "tests/support/dnsmasq.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace smarthost::test {

namespace {

constexpr const char* k_dnsmasq = "/usr/sbin/dnsmasq";

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// A UDP socket on a kernel-chosen loopback port; returns the descriptor and the port.
std::pair<int, std::uint16_t> bound_udp_socket() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_in address = loopback(0);
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot bind a loopback UDP socket");
    }
    return {fd, ntohs(address.sin_port)};
}

// A query for "probe.test" type A, id 0x5a5a: any reply with that id means "serving".
std::string probe_query() {
    static const unsigned char packet[] = {0x5a, 0x5a, 0x01, 0x00, 0,   1,   0,   0,   0, 0,
                                           0,    0,    5,    'p',  'r', 'o', 'b', 'e', 4, 't',
                                           'e',  's',  't',  0,    0,   1,   0,   1};
    return std::string(reinterpret_cast<const char*>(packet), sizeof packet);
}

void check_text(const std::string& text) {
    if (text.find_first_of(",\"\\") != std::string::npos) {
        throw std::invalid_argument("dnsmasq TXT fixture text with a comma, quote or backslash");
    }
}

}  // namespace

DnsRecord DnsRecord::mx(std::string domain, std::uint16_t preference, std::string exchange) {
    return DnsRecord{Kind::mx, std::move(domain), preference, {std::move(exchange)}};
}
DnsRecord DnsRecord::address(std::string name, std::string ip) {
    return DnsRecord{Kind::address, std::move(name), 0, {std::move(ip)}};
}
DnsRecord DnsRecord::txt(std::string name, std::vector<std::string> strings) {
    for (const std::string& text : strings)
        check_text(text);
    return DnsRecord{Kind::txt, std::move(name), 0, std::move(strings)};
}
DnsRecord DnsRecord::null_mx(std::string domain) {
    return DnsRecord{Kind::null_mx, std::move(domain), 0, {}};
}
DnsRecord DnsRecord::nxdomain(std::string domain) {
    return DnsRecord{Kind::nxdomain, std::move(domain), 0, {}};
}
DnsRecord DnsRecord::unanswered(std::string domain) {
    return DnsRecord{Kind::unanswered, std::move(domain), 0, {}};
}

Dnsmasq::Dnsmasq(std::vector<DnsRecord> records, std::chrono::seconds ttl) {
    std::tie(silent_socket_, silent_port_) = bound_udp_socket();
    char log_template[] = "/tmp/smarthost-dnsmasq-XXXXXX";
    const int log_fd = ::mkstemp(log_template);
    if (log_fd < 0) throw std::runtime_error("cannot create the dnsmasq log file");
    ::close(log_fd);
    log_path_ = log_template;

    // The port is free when we look, but another process may take it before dnsmasq
    // binds (UDP and TCP): then dnsmasq exits, and we try another.
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto [probe_fd, port] = bound_udp_socket();
        ::close(probe_fd);
        port_ = port;
        if (start(arguments(records, ttl)) &&
            wait_until_answering(std::chrono::steady_clock::now() + std::chrono::seconds(10))) {
            return;
        }
        stop();
    }
    const std::string output = log();
    ::close(silent_socket_);
    ::unlink(log_path_.c_str());
    throw std::runtime_error("dnsmasq did not start: " + output);
}

Dnsmasq::~Dnsmasq() {
    stop();
    if (silent_socket_ >= 0) ::close(silent_socket_);
    ::unlink(log_path_.c_str());
}

std::string Dnsmasq::forwarder() const {
    return "127.0.0.1@" + std::to_string(port_);
}

std::vector<std::string> Dnsmasq::arguments(const std::vector<DnsRecord>& records,
                                            std::chrono::seconds ttl) const {
    std::vector<std::string> argv = {
        k_dnsmasq,
        "--keep-in-foreground",
        "--log-facility=-",
        "--conf-file=/dev/null",  // no /etc/dnsmasq.conf, no /etc/dnsmasq.d
        "--pid-file",             // empty: no PID file
        "--no-resolv",            // no upstream from /etc/resolv.conf ...
        "--no-hosts",             // ... nor names from /etc/hosts
        "--no-poll",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--port=" + std::to_string(port_),
        "--local-ttl=" + std::to_string(ttl.count()),
        "--local=/test/",
    };
    for (const DnsRecord& record : records) {
        switch (record.kind) {
            case DnsRecord::Kind::mx:
                argv.push_back("--mx-host=" + record.name + "," + record.values.at(0) + "," +
                               std::to_string(record.preference));
                break;
            case DnsRecord::Kind::address:
                argv.push_back("--host-record=" + record.name + "," + record.values.at(0));
                break;
            case DnsRecord::Kind::txt: {
                std::string option = "--txt-record=" + record.name;
                for (const std::string& text : record.values)
                    option += "," + text;  // argv: dnsmasq takes quotes literally
                argv.push_back(option);
                break;
            }
            case DnsRecord::Kind::null_mx:
                // dnsmasq's --mx-host cannot name the root; the raw rdata can: preference
                // 0 (two bytes), exchange "." (one zero byte).
                argv.push_back("--dns-rr=" + record.name + ",15,000000");
                break;
            case DnsRecord::Kind::nxdomain:
                argv.push_back("--address=/" + record.name + "/");
                break;
            case DnsRecord::Kind::unanswered:
                argv.push_back("--server=/" + record.name + "/127.0.0.1#" +
                               std::to_string(silent_port_));
                break;
        }
    }
    return argv;
}

bool Dnsmasq::start(const std::vector<std::string>& argv) {
    std::vector<char*> pointers;
    for (const std::string& argument : argv)
        pointers.push_back(const_cast<char*>(argument.c_str()));
    pointers.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_APPEND);
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (log_fd >= 0) {
            ::dup2(log_fd, STDOUT_FILENO);
            ::dup2(log_fd, STDERR_FILENO);
        }
        if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
        ::execv(k_dnsmasq, pointers.data());
        ::_exit(127);
    }
    pid_ = pid;
    return true;
}

bool Dnsmasq::wait_until_answering(std::chrono::steady_clock::time_point deadline) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const sockaddr_in server = loopback(port_);
    const std::string query = probe_query();
    bool answering = false;
    while (!answering && std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;  // exited: bad arguments or the port was taken
            break;
        }
        ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&server),
                 sizeof server);
        pollfd ready{fd, POLLIN, 0};
        if (::poll(&ready, 1, 50) == 1) {
            std::array<unsigned char, 512> reply{};
            const ssize_t size = ::recv(fd, reply.data(), reply.size(), 0);
            answering = size >= 12 && reply[0] == 0x5a && reply[1] == 0x5a;
        }
    }
    ::close(fd);
    return answering;
}

void Dnsmasq::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int waited = 0; waited < 200; ++waited) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string Dnsmasq::log() const {
    std::ifstream file(log_path_);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace smarthost::test
