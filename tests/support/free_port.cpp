#include "tests/support/free_port.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

namespace smarthost::test {
namespace {

// How many ports below the ephemeral range to choose from.
constexpr int k_span = 10000;
constexpr int k_lowest = 1024;

// The first port of net.ipv4.ip_local_port_range (32768 by default).
int ephemeral_start() {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    int low = 0;
    if (range >> low) return low;
    return 32768;
}

// 0 when the port cannot be bound now, else the port bound (for port 0: the kernel's).
std::uint16_t try_bind(const std::string& address, std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) {
        ::close(fd);
        throw std::runtime_error("not an IPv4 address: " + address);
    }
    std::uint16_t bound = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        socklen_t length = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
        bound = ntohs(a.sin_port);
    }
    ::close(fd);
    return bound;
}

// Ports this process has handed out: a fixture asks for several before its server binds
// any, and a port still free when checked must not be handed out twice (it was, once in
// a thousand runs, and two listeners of one server got the same port).
bool claim_once(std::uint16_t port) {
    static std::mutex mutex;
    static std::set<std::uint16_t> handed_out;
    const std::lock_guard lock(mutex);
    return handed_out.insert(port).second;
}

}  // namespace

std::uint16_t free_tcp_port(const std::string& address) {
    const int start = ephemeral_start();
    if (start - k_span >= k_lowest) {
        static thread_local std::mt19937 random(std::random_device{}());
        std::uniform_int_distribution<int> pick(start - k_span, start - 1);
        for (int attempt = 0; attempt < 100; ++attempt) {
            const auto port = static_cast<std::uint16_t>(pick(random));
            if (try_bind(address, port) == port && claim_once(port)) return port;
        }
    }
    // A machine whose ephemeral range leaves no room below it: the kernel's choice.
    if (const auto port = try_bind(address, 0)) return port;
    throw std::runtime_error("no free port on " + address);
}

}  // namespace smarthost::test
