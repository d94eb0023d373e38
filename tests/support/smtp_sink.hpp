#pragma once
// postfix's smtp-sink as a receiving server for tests: on a loopback address and port,
// dumping every transaction to its own file (smtp-sink -d), stopped at destruction.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace smarthost::test {

class SmtpSink {
  public:
    // Port 0: a free one. `options` go before the address (e.g. {"-p"}: no PIPELINING).
    explicit SmtpSink(std::string address = "127.0.0.1", unsigned short port = 0,
                      std::vector<std::string> options = {});
    ~SmtpSink();
    SmtpSink(const SmtpSink&) = delete;
    SmtpSink& operator=(const SmtpSink&) = delete;

    unsigned short port() const { return port_; }
    // The dumped transactions (smtp-sink's X- headers, then the message), any order.
    std::vector<std::string> dumps() const;

  private:
    std::string address_;
    unsigned short port_;
    pid_t pid_ = 0;
    std::filesystem::path dump_dir_;
};

}  // namespace smarthost::test
