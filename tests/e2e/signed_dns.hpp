#pragma once
// DNSSEC for end-to-end tests: nsd serving test zones (some signed with ldns-signzone at
// start, with fresh ECDSA P-256 keys) and a validating unbound in front of it, both on
// free loopback ports, run as the current user from a temporary directory. smarthost
// forwards to the unbound and trusts the DS records of the signed zones; unsigned zones
// are outside every trust anchor, so their answers are insecure.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/harness.hpp"

namespace smarthost::e2e {

struct TestZone {
    std::string name;  // "dane.test"; its SOA and NS records are added
    // Zone-file lines with absolute names: "mx.dane.test. IN A 127.0.0.3".
    std::vector<std::string> records;
    bool signed_zone = false;
};

class SignedDns {
  public:
    // Signs, starts nsd and unbound, and waits (bounded) until unbound answers for each
    // zone; throws std::runtime_error with the programs' output otherwise.
    explicit SignedDns(const std::vector<TestZone>& zones);
    ~SignedDns();
    SignedDns(const SignedDns&) = delete;
    SignedDns& operator=(const SignedDns&) = delete;

    std::string forwarder() const;  // the validating unbound, "127.0.0.1@<port>"
    // The DS records of the signed zones, for [delivery] dnssec_trust_anchor_file.
    const std::filesystem::path& trust_anchor_file() const { return trust_anchor_file_; }
    std::string log() const;  // what nsd and unbound wrote

  private:
    TempDir dir_;
    std::filesystem::path trust_anchor_file_;
    std::uint16_t nsd_port_ = 0;
    std::uint16_t unbound_port_ = 0;
    std::unique_ptr<Process> nsd_;
    std::unique_ptr<Process> unbound_;
};

}  // namespace smarthost::e2e
