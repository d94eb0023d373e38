#include "tests/support/smtp_sink.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/free_port.hpp"

extern char** environ;

namespace smarthost::test {

namespace {

using namespace std::chrono_literals;

sockaddr_in endpoint(const std::string& address, unsigned short port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    return a;
}

bool accepts_connections(const std::string& address, unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = endpoint(address, port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

SmtpSink::SmtpSink(std::string address, unsigned short port, std::vector<std::string> options)
    : address_(std::move(address)), port_(port == 0 ? free_tcp_port(address_) : port) {
    dump_dir_ =
        std::filesystem::temp_directory_path() /
        ("smtp-sink-" + std::to_string(::getpid()) + "-" + address_ + "-" + std::to_string(port_));
    std::filesystem::create_directories(dump_dir_);
    std::filesystem::permissions(dump_dir_, std::filesystem::perms::all);
    std::vector<std::string> args{"/usr/sbin/smtp-sink", "-d", (dump_dir_ / "msg.").string()};
    // smtp-sink refuses to run as root without dropping privileges.
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "nobody"});
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(address_ + ":" + std::to_string(port_));
    args.emplace_back("100");
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("cannot start smtp-sink");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!accepts_connections(address_, port_)) {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("smtp-sink did not start");
        std::this_thread::sleep_for(20ms);
    }
}

SmtpSink::~SmtpSink() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    std::error_code ignored;
    std::filesystem::remove_all(dump_dir_, ignored);
}

std::vector<std::string> SmtpSink::dumps() const {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(dump_dir_)) {
        std::ifstream file(entry.path(), std::ios::binary);
        std::stringstream text;
        text << file.rdbuf();
        out.push_back(text.str());
    }
    return out;
}

}  // namespace smarthost::test
