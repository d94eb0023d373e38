#include "tests/e2e/signed_dns.hpp"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace smarthost::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string read_text(const fs::path& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

std::string checked(const CommandResult& result, const std::string& what) {
    if (result.exit_code != 0) throw std::runtime_error(what + " failed: " + result.output);
    return result.output;
}

// Writes the zone file; for a signed zone makes a ZSK and a KSK, signs, and returns the
// KSK's DS record (SHA-256 digest).
std::string write_zone(const fs::path& dir, const TestZone& zone) {
    const fs::path file = dir / (zone.name + ".zone");
    {
        std::ofstream out(file);
        out << "$TTL 60\n"
            << zone.name << ". IN SOA ns." << zone.name << ". admin." << zone.name
            << ". 1 3600 600 86400 60\n"
            << zone.name << ". IN NS ns." << zone.name << ".\n"
            << "ns." << zone.name << ". IN A 127.0.0.1\n";
        for (const auto& record : zone.records)
            out << record << '\n';
    }
    if (!zone.signed_zone) return {};
    // ldns-keygen writes its key files into the current directory: run it in `dir`.
    const auto keygen = [&](bool ksk) {
        std::vector<std::string> argv = {
            "sh",          "-c", "cd \"$0\" && exec \"$@\"", dir.string(),
            "ldns-keygen", "-a", "ECDSAP256SHA256"};
        if (ksk) argv.emplace_back("-k");
        argv.push_back(zone.name);
        return trimmed(checked(run_command(argv), "ldns-keygen"));
    };
    const std::string zsk = keygen(false);
    const std::string ksk = keygen(true);
    checked(run_command({"ldns-signzone", "-f", (dir / (zone.name + ".signed")).string(),
                         file.string(), (dir / zsk).string(), (dir / ksk).string()}),
            "ldns-signzone");
    return trimmed(checked(
        run_command({"ldns-key2ds", "-n", "-2", (dir / (ksk + ".key")).string()}), "ldns-key2ds"));
}

}  // namespace

SignedDns::SignedDns(const std::vector<TestZone>& zones) {
    const fs::path dir = dir_.path();
    trust_anchor_file_ = dir / "trust-anchors.ds";
    std::string nsd_zones;
    std::string stub_zones;
    {
        std::ofstream anchors(trust_anchor_file_);
        for (const auto& zone : zones) {
            const std::string ds = write_zone(dir, zone);
            if (!ds.empty()) anchors << ds << '\n';
            nsd_zones += "zone:\n  name: \"" + zone.name + "\"\n  zonefile: \"" +
                         (dir / (zone.name + (zone.signed_zone ? ".signed" : ".zone"))).string() +
                         "\"\n";
        }
    }
    nsd_port_ = free_port();
    unbound_port_ = free_port();
    const std::string nsd_address = "127.0.0.1@" + std::to_string(nsd_port_);
    for (const auto& zone : zones)
        stub_zones +=
            "stub-zone:\n  name: \"" + zone.name + "\"\n  stub-addr: " + nsd_address + "\n";
    std::ofstream(dir / "nsd.conf")
        << "server:\n  ip-address: " << nsd_address
        << "\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"" << dir.string()
        << "\"\n  pidfile: \"" << (dir / "nsd.pid").string()
        << "\"\n  database: \"\"\n  zonelistfile: \"" << (dir / "zone.list").string()
        << "\"\n  xfrdfile: \"" << (dir / "xfrd.state").string()
        << "\"\n  verbosity: 1\n  server-count: 1\n"
        << "remote-control:\n  control-enable: no\n"
        << nsd_zones;
    // `local-zone: "test." nodefault`: unbound would answer NXDOMAIN for .test (RFC 6761)
    // itself. The trust anchors are the test zones' DS records; no root anchor, so the
    // unsigned zones are insecure, not bogus.
    std::ofstream(dir / "unbound.conf")
        << "server:\n  interface: 127.0.0.1@" << unbound_port_ << "\n  port: " << unbound_port_
        << "\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"" << dir.string()
        << "\"\n  pidfile: \"" << (dir / "unbound.pid").string()
        << "\"\n  use-syslog: no\n  logfile: \"\"\n  do-ip6: no\n  do-not-query-localhost: no\n"
        << "  local-zone: \"test.\" nodefault\n  trust-anchor-file: \""
        << trust_anchor_file_.string() << "\"\n  num-threads: 1\n  verbosity: 1\n"
        << "remote-control:\n  control-enable: no\n"
        << stub_zones;
    nsd_ = std::make_unique<Process>(
        std::vector<std::string>{"nsd", "-d", "-c", (dir / "nsd.conf").string()}, dir / "nsd.log");
    unbound_ = std::make_unique<Process>(
        std::vector<std::string>{"unbound", "-d", "-c", (dir / "unbound.conf").string()},
        dir / "unbound.log");
    for (const auto& zone : zones) {
        const bool answered = static_cast<bool>(wait_until(
            "unbound answers for " + zone.name,
            [&] {
                const auto result = run_command(
                    {"drill", "-p", std::to_string(unbound_port_), "@127.0.0.1", zone.name, "SOA"},
                    5s);
                return result.exit_code == 0 &&
                       result.output.find("rcode: NOERROR") != std::string::npos;
            },
            15s));
        if (!answered) throw std::runtime_error("the test DNS servers did not start:\n" + log());
    }
}

SignedDns::~SignedDns() {
    // SIGTERM, not the Process destructor's SIGKILL: nsd's server children go with it.
    for (auto* process : {unbound_.get(), nsd_.get()}) {
        if (!process) continue;
        process->signal(SIGTERM);
        process->wait(10s);
    }
}

std::string SignedDns::forwarder() const {
    return "127.0.0.1@" + std::to_string(unbound_port_);
}

std::string SignedDns::log() const {
    return "---- nsd ----\n" + read_text(dir_.path() / "nsd.log") + "---- unbound ----\n" +
           read_text(dir_.path() / "unbound.log");
}

}  // namespace smarthost::e2e
