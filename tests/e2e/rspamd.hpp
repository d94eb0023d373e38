#pragma once
// A real rspamd (Debian's rspamd) on a free loopback port for the content scanning tests
// (docs/scanning.md): its normal worker only, from a private configuration in a temporary
// directory, in the foreground. It reads no network: its DNS resolver is a loopback port
// where nothing answers, the fuzzy storage module (which would resolve its servers with
// the system resolver) is off, and its URL suffix list is four lines, so that it starts
// in about a second instead of compiling the whole public suffix list.

#include <cstdint>
#include <memory>
#include <string>

#include "tests/e2e/harness.hpp"

namespace smarthost::e2e {

class Rspamd {
  public:
    // Throws std::runtime_error with rspamd's own words when it does not answer /ping
    // within 30 seconds: a test that needs it fails, it is never skipped.
    Rspamd();
    ~Rspamd();
    Rspamd(const Rspamd&) = delete;
    Rspamd& operator=(const Rspamd&) = delete;

    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string log() const;
    // SIGTERM, and waits until the port refuses connections.
    void stop();

  private:
    TempDir dir_;
    std::uint16_t port_;
    std::unique_ptr<Process> process_;
};

// The GTUBE line: rspamd scores a message that has it 15 and says reject.
inline constexpr const char* k_gtube =
    "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

}  // namespace smarthost::e2e
