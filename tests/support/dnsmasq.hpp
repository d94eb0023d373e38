#pragma once
// A real DNS server for tests: dnsmasq (Debian's dnsmasq-base) on a free loopback port,
// answering only from the fixture records it was given, never forwarding anywhere.
//
// Names under .test (RFC 6761) are local: a .test name without records is NXDOMAIN, and
// a .test name with some records answers NODATA for the other types. Names outside .test
// are REFUSED (dnsmasq has no upstream), which a resolver reports as SERVFAIL.

#include <sys/types.h>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace smarthost::test {

struct DnsRecord {
    enum class Kind { mx, address, txt, null_mx, nxdomain, unanswered };

    static DnsRecord mx(std::string domain, std::uint16_t preference, std::string exchange);
    static DnsRecord address(std::string name, std::string ip);  // A or AAAA, by its form
    // One TXT record made of these character-strings (no ',', '"' or '\\').
    static DnsRecord txt(std::string name, std::vector<std::string> strings);
    static DnsRecord null_mx(std::string domain);   // RFC 7505 "MX 0 ."
    static DnsRecord nxdomain(std::string domain);  // the name and everything below it
    // Queries for the name and below go to a server that never answers: a resolver's
    // deadline is the only way out (a domain whose DNS server is down).
    static DnsRecord unanswered(std::string domain);

    Kind kind = Kind::address;
    std::string name;
    std::uint16_t preference = 0;
    std::vector<std::string> values;
};

class Dnsmasq {
  public:
    // Starts dnsmasq and waits (bounded) until it answers; throws std::runtime_error
    // with dnsmasq's own output when it cannot start.
    explicit Dnsmasq(std::vector<DnsRecord> records,
                     std::chrono::seconds ttl = std::chrono::seconds(60));
    ~Dnsmasq();
    Dnsmasq(const Dnsmasq&) = delete;
    Dnsmasq& operator=(const Dnsmasq&) = delete;

    std::uint16_t port() const { return port_; }
    std::string forwarder() const;  // "127.0.0.1@<port>", for Resolver::Settings
    bool running() const { return pid_ > 0; }
    void stop();  // the server goes away (idempotent)

  private:
    std::vector<std::string> arguments(const std::vector<DnsRecord>& records,
                                       std::chrono::seconds ttl) const;
    bool start(const std::vector<std::string>& argv);
    bool wait_until_answering(std::chrono::steady_clock::time_point deadline);
    std::string log() const;

    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    int silent_socket_ = -1;  // bound, never read: where unanswered() queries go
    std::uint16_t silent_port_ = 0;
    std::string log_path_;
};

}  // namespace smarthost::test
