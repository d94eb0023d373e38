#include "tests/e2e/rspamd.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string configuration(std::uint16_t port) {
    return R"(.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    filters = "chartable,dkim,regexp";
    url_tld = "$DBDIR/tld.dat";
    cache_file = "$DBDIR/symbols.cache";
    dynamic_conf = "$DBDIR/rspamd_dynamic";
    history_file = "$DBDIR/rspamd.history";
    control_socket = "$DBDIR/rspamd.sock mode=0600";
    tempdir = "$DBDIR";
    allow_raw_input = true;
    dns { nameserver = ["127.0.0.1:9"]; timeout = 0.1s; retransmits = 1; }
}
logging { type = "console"; level = "error"; }
worker "normal" {
    bind_socket = "127.0.0.1:)" +
           std::to_string(port) + R"(";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}
)";
}

bool answers_ping(std::uint16_t port) {
    return run_command({"curl", "-sf", "--max-time", "1", "-o", "/dev/null",
                        "http://127.0.0.1:" + std::to_string(port) + "/ping"},
                       5s)
               .exit_code == 0;
}

}  // namespace

Rspamd::Rspamd() : port_(free_port()) {
    const fs::path& dir = dir_.path();
    // rspamd drops root for its workers; they write their caches here.
    ::chmod(dir.c_str(), 0777);
    fs::create_directories(dir / "local" / "override.d");
    std::ofstream(dir / "local" / "override.d" / "fuzzy_check.conf") << "enabled = false;\n";
    std::ofstream(dir / "tld.dat") << "com\norg\nnet\ntest\n";
    std::ofstream(dir / "rspamd.conf") << configuration(port_);
    std::vector<std::string> argv{"rspamd",
                                  "-f",
                                  "-c",
                                  (dir / "rspamd.conf").string(),
                                  "--var=DBDIR=" + dir.string(),
                                  "--var=RUNDIR=" + dir.string(),
                                  "--var=LOGDIR=" + dir.string(),
                                  "--var=LOCAL_CONFDIR=" + (dir / "local").string()};
    if (::getuid() == 0) {
        for (const char* option : {"-u", "_rspamd", "-g", "_rspamd"})
            argv.emplace_back(option);
    }
    process_ = std::make_unique<Process>(argv, dir / "rspamd.log");
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!answers_ping(port_)) {
        if (!process_->running() || std::chrono::steady_clock::now() > until)
            throw std::runtime_error("rspamd did not start on 127.0.0.1:" + std::to_string(port_) +
                                     ":\n" + log());
        std::this_thread::sleep_for(50ms);
    }
}

Rspamd::~Rspamd() {
    if (process_ && process_->running()) stop();
}

std::string Rspamd::log() const {
    std::ifstream in(dir_.path() / "rspamd.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void Rspamd::stop() {
    process_->signal(SIGTERM);
    if (process_->wait(10s) < 0) process_->signal(SIGKILL);
    process_->wait(10s);
    EXPECT_TRUE(wait_until("rspamd's port refuses connections", [this] {
        return run_command({"curl", "-s", "--max-time", "1", "-o", "/dev/null",
                            "http://127.0.0.1:" + std::to_string(port_) + "/ping"},
                           5s)
                   .exit_code != 0;
    }));
}

}  // namespace smarthost::e2e
