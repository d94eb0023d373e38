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
    // The configuration the accept bench runs too (bench/accept.sh).
    std::vector<std::string> argv{"rspamd",
                                  "-f",
                                  "-c",
                                  std::string(SMARTHOST_E2E_SOURCE_DIR) + "/tests/e2e/rspamd.conf",
                                  "--var=PORT=" + std::to_string(port_),
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
